"""Seedance's shot client against the fake Ark server over real HTTP."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from characters.generators.base import (
    GenerationRequest,
    GeneratorError,
    Pending,
    ReferenceImage,
    ShotSpec,
)
from characters.generators.seedance import SeedanceGenerator
from tests.fakes.server import ARK_KEY, FAKE_MP4, portrait_png

REF = ReferenceImage(portrait_png("front", 1, 96, 128), "image/png", "front")
SHOT = GenerationRequest(
    stage="shot", prompt="[Image 1] walks toward camera", references=(REF,), seed=42
)


@pytest.fixture(autouse=True)
def _stylised(fake):
    """These tests send a stylised (not photoreal) reference inline, which Seedance takes."""
    fake.inline_faces_are_photoreal = False


def seedance(fast, **kwargs) -> SeedanceGenerator:
    return SeedanceGenerator(**{"poll_interval": 0.5, **fast, **kwargs})


def generate(fast, request=SHOT, *, checks=20, **kwargs):
    """Submit, then check as the runner would (without its waiting), until a result."""
    generator = seedance(fast, **kwargs)
    try:
        outcome = generator.generate(request)
        for _ in range(checks):
            if not isinstance(outcome, Pending):
                return outcome
            outcome = generator.generate(
                GenerationRequest(**{**request.__dict__, "resume_id": outcome.task_id})
            )
        return outcome
    finally:
        generator.close()


def failure(fast, request=SHOT, **kwargs) -> GeneratorError:
    with pytest.raises(GeneratorError) as info:
        generate(fast, request, **kwargs)
    return info.value


def test_submitting_a_shot_returns_its_task_at_once_without_polling(fake, fast, sleeps):
    generator = seedance(fast)
    pending = generator.generate(SHOT)
    generator.close()
    assert isinstance(pending, Pending)
    assert pending.task_id.startswith("cgt-") and pending.after == 0.5
    assert len(fake.routed("ark.create")) == 1
    assert fake.routed("ark.poll") == []  # the worker is free at once
    assert sleeps.calls == []


def test_it_makes_a_shot(fake, fast, sleeps):
    result = generate(fast)
    (asset,) = result.assets
    assert (asset.mime, asset.data) == ("video/mp4", FAKE_MP4)
    assert result.provider_request_id.startswith("cgt-")
    tokens = 1280 * 720 * 24 * 5 // 1024
    assert result.cost_usd == Decimal(tokens) / 1000 * Decimal("0.007")
    assert result.metadata["duration"] == 5
    # queued -> running -> succeeded: one status read per call, and never a sleep.
    assert len(fake.routed("ark.poll")) == 3
    assert sleeps.calls == []
    (sent,) = fake.routed("ark.create")
    assert sent.headers["authorization"] == f"Bearer {ARK_KEY}"
    assert sent.json() == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [
            {"type": "text", "text": SHOT.prompt},
            {
                "type": "image_url",
                "image_url": {
                    "url": "data:image/png;base64," + base64.b64encode(REF.data).decode()
                },
                "role": "reference_image",
            },
        ],
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "generate_audio": False,
        "seed": 42,
        "watermark": False,
    }


def test_a_check_reads_the_task_once_and_says_how_it_stands(fake, fast):
    generator = seedance(fast)
    task_id = generator.generate(SHOT).task_id
    first = generator.generate(GenerationRequest(**{**SHOT.__dict__, "resume_id": task_id}))
    generator.close()
    assert first == Pending(task_id, after=0.5, status="queued")
    assert len(fake.routed("ark.poll")) == 1


def test_it_resumes_a_submitted_task_without_paying_again(fake, fast):
    generator = seedance(fast)
    task_id = generator.http.request(
        "POST", "/contents/generations/tasks", json_body=generator.task_body(SHOT)
    ).json()["id"]
    generator.close()
    fake.requests.clear()
    result = generate(fast, GenerationRequest(**{**SHOT.__dict__, "resume_id": task_id}))
    assert result.provider_request_id == task_id
    assert fake.routed("ark.create") == []


def test_sensitive_output_is_blocked(fake, fast):
    fake.add_fault("ark.create", "sensitive")
    error = failure(fast)
    assert error.blocked and error.permanent
    assert "OutputVideoSensitiveContentDetected" in str(error)


def test_sensitive_input_is_blocked_at_creation(fake, fast, sleeps):
    fake.add_fault(
        "ark.create",
        "status",
        status=400,
        code="InputImageSensitiveContentDetected",
        message="The input image may contain real person.",
    )
    error = failure(fast)
    assert error.blocked and "real person" in str(error)
    assert sleeps.calls == []


def test_a_shot_that_never_finishes_stays_pending(fake, fast, sleeps):
    fake.add_fault("ark.create", "never")
    outcome = generate(fast, checks=5)
    assert isinstance(outcome, Pending) and outcome.status == "running"
    assert len(fake.routed("ark.poll")) == 5
    assert sleeps.calls == []  # the runner's deadline ends it, not a worker asleep here


def test_cancel_deletes_the_task(fake, fast):
    generator = seedance(fast)
    task_id = generator.http.request(
        "POST", "/contents/generations/tasks", json_body=generator.task_body(SHOT)
    ).json()["id"]
    generator.cancel(task_id)
    generator.cancel("cgt-gone")  # already gone counts as cancelled
    task = generator.http.request("GET", f"/contents/generations/tasks/{task_id}").json()
    generator.close()
    assert task["status"] == "cancelled"


@pytest.mark.parametrize(
    ("spec", "kwargs", "words"),
    [
        ({"resolution": "1080p"}, {"model": "dreamina-seedance-2-0-fast-260128"}, "480p, 720p"),
        ({"resolution": "4k"}, {}, "not '4k'"),
        ({"duration": 3}, {}, "4-15 seconds"),
        ({"ratio": "2:1"}, {}, "2:1"),
    ],
)
def test_enums_are_checked_before_sending(fake, fast, spec, kwargs, words):
    request = GenerationRequest(**{**SHOT.__dict__, "spec": ShotSpec(number=1, **spec)})
    error = failure(fast, request, **kwargs)
    assert error.permanent and words in str(error)
    assert fake.routed("ark.create") == []


def test_at_most_nine_references(fake, fast):
    error = failure(fast, GenerationRequest("shot", "x", references=(REF,) * 10))
    assert error.permanent and "at most 9" in str(error)


def test_1080p_is_sent_for_the_standard_model(fake, fast):
    generate(
        fast, GenerationRequest(**{**SHOT.__dict__, "spec": ShotSpec(number=1, resolution="1080p")})
    )
    assert fake.routed("ark.create")[0].json()["resolution"] == "1080p"


def test_an_expired_video_link_says_so(fake, fast):
    fake.add_fault("files", "expired", status=404)
    error = failure(fast)
    assert error.permanent and "expired" in str(error)


def test_an_oversized_video_is_cut_off(fake, fast, settings):
    settings.TURNAROUND_MAX_DOWNLOAD_BYTES = 100_000
    fake.add_fault("files", "oversized", size=1_000_000)
    assert "more than 100,000 bytes" in str(failure(fast))


def test_a_web_page_instead_of_the_video_is_refused(fake, fast):
    fake.add_fault("files", "html")
    assert "web page instead of the expected video" in str(failure(fast))


def test_a_rate_limited_check_is_tried_again_later_not_slept_on(fake, fast, sleeps):
    fake.add_fault(
        "ark.poll", "status", status=429, retry_after=3, code="RateLimitExceeded.EndpointRPM"
    )
    generator = seedance(fast)
    task_id = generator.generate(SHOT).task_id
    check = GenerationRequest(**{**SHOT.__dict__, "resume_id": task_id})
    limited = generator.generate(check)
    generator.close()
    assert limited == Pending(task_id, after=1.0, status="unreachable")
    assert sleeps.calls == []
    result = generate(fast, check)
    assert result.assets[0].mime == "video/mp4"


def test_a_wrong_key_is_permanent(fake, fast):
    error = failure(fast, api_key="ark-wrong")
    assert error.permanent and error.status_code == 401
    assert "AuthenticationError" not in str(error) or "ark-wrong" not in str(error)
    assert "missing or invalid" in str(error)


def test_a_photoreal_face_sent_inline_is_refused_as_the_real_service_does(fake, fast):
    fake.inline_faces_are_photoreal = True
    error = failure(fast)
    assert error.blocked and error.permanent
    assert "InputImageSensitiveContentDetected.PrivacyInformation" in str(error)
    assert "may contain real person" in str(error)


def test_asset_references_are_sent_as_asset_urls(fake, fast):
    fake.inline_faces_are_photoreal = True
    from tests.fakes.server import LibraryAsset

    fake.assets["asset-1"] = LibraryAsset(
        "asset-1", "group-1", "", "face", 900, 1200, status="Active"
    )
    ref = ReferenceImage(b"", "image/jpeg", "Mara: face", uri="asset://asset-1")
    result = generate(fast, GenerationRequest("shot", "[Image 1] turns", references=(ref,)))
    assert result.assets[0].mime == "video/mp4"
    (create,) = fake.routed("ark.create")
    assert create.json()["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "asset://asset-1"},
        "role": "reference_image",
    }
