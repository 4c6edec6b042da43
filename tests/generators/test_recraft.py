"""Recraft's casting and upscale clients against the fake server over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from characters.generators.base import GenerationRequest, GeneratorError, ReferenceImage
from characters.generators.recraft import (
    UPSCALE_FILE_FIELD,
    V3_PHOTO_SUBSTYLE,
    RecraftGenerator,
)
from tests.fakes.server import RECRAFT_KEY, portrait_png

CASTING = GenerationRequest(stage="casting", prompt="A woman in her 40s, red hair, scar", seed=7)


def generate(fast, request=CASTING, **kwargs):
    generator = RecraftGenerator(**{**fast, **kwargs})
    try:
        return generator.generate(request)
    finally:
        generator.close()


def failure(fast, request=CASTING, **kwargs) -> GeneratorError:
    with pytest.raises(GeneratorError) as info:
        generate(fast, request, **kwargs)
    return info.value


def test_it_casts_a_portrait(fake, fast):
    result = generate(fast)
    (asset,) = result.assets
    assert (asset.mime, asset.width, asset.height) == ("image/png", 1024, 1365)
    assert result.cost_usd == Decimal("0.040")
    assert result.attempts == 1
    assert result.provider_request_id.startswith("img-")
    (sent,) = fake.routed("recraft.generate")
    assert sent.headers["authorization"] == f"Bearer {RECRAFT_KEY}"
    assert sent.json() == {
        "prompt": CASTING.prompt,
        "model": "recraftv3",
        "n": 1,
        "size": "1024x1365",
        "response_format": "url",
        "random_seed": 7,
        "style": "realistic_image",
        "substyle": V3_PHOTO_SUBSTYLE,
    }
    # The image came from the file host, without the key.
    (download,) = fake.routed("files")
    assert "authorization" not in download.headers


def test_v4_models_get_their_size_and_no_style(fake, fast, settings):
    settings.RECRAFT_MODEL = "recraftv4_1"
    result = generate(fast)
    assert (result.assets[0].width, result.assets[0].height) == (896, 1216)
    body = fake.routed("recraft.generate")[0].json()
    assert body["size"] == "896x1216"
    assert "style" not in body and "substyle" not in body


def test_it_upscales_the_approved_portrait(fake, fast):
    portrait = portrait_png("face", 1, 1024, 1365)
    request = GenerationRequest(
        stage="upscale", prompt="", references=(ReferenceImage(portrait, "image/png"),)
    )
    result = generate(fast, request)
    assert (result.assets[0].width, result.assets[0].height) == (3073, 4096)
    assert result.cost_usd == Decimal("0.004")
    assert result.model == "crispUpscale"
    sent = fake.routed("recraft.upscale")[0]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert f'name="{UPSCALE_FILE_FIELD}"'.encode() in sent.body
    assert b'name="response_format"' in sent.body


def test_upscale_input_limits_are_checked_before_paying(fake, fast):
    tiny = portrait_png("face", 1, 20, 24)
    request = GenerationRequest("upscale", "", references=(ReferenceImage(tiny, "image/png"),))
    error = failure(fast, request)
    assert error.permanent and "32-4096" in str(error)
    assert fake.routed("recraft.upscale") == []


def test_it_waits_out_a_429_with_retry_after(fake, fast, sleeps):
    fake.add_fault("recraft.generate", "status", status=429, retry_after=2)
    result = generate(fast)
    assert result.attempts == 2
    assert sleeps.calls == [2.0]


def test_it_retries_server_errors_then_succeeds(fake, fast, sleeps):
    fake.add_fault("recraft.generate", "status", status=503, times=2)
    result = generate(fast)
    assert result.attempts == 3
    assert len(sleeps.calls) == 2


def test_it_gives_up_after_four_server_errors(fake, fast):
    fake.add_fault("recraft.generate", "status", status=500, times=10)
    error = failure(fast)
    assert error.permanent is False
    assert error.attempts == 4
    assert error.status_code == 500
    assert len(fake.routed("recraft.generate")) == 4


def test_a_wrong_key_is_permanent_with_recrafts_words(fake, fast):
    error = failure(fast, api_key="wrong")
    assert error.permanent and error.status_code == 401
    assert "request unauthorized" in str(error)
    assert "wrong" not in str(error)
    assert error.attempts == 1


def test_a_rejected_body_shows_the_provider_message(fake, fast):
    fake.add_fault(
        "recraft.generate",
        "status",
        status=400,
        code="invalid_size",
        message="size 9x9 is not supported",
    )
    error = failure(fast)
    assert error.permanent and "size 9x9 is not supported" in str(error)


def test_client_side_limits_refuse_long_prompts(fake, fast):
    error = failure(fast, GenerationRequest("casting", "x" * 1001))
    assert error.permanent and "1,000" in str(error)
    assert fake.routed("recraft.generate") == []


def test_a_hung_generation_is_retried_once_then_reported_as_maybe_charged(fake, fast):
    fake.add_fault("recraft.generate", "hang", times=2, seconds=3)
    error = failure(fast)
    assert error.permanent is False
    assert error.charged is True
    assert error.attempts == 2
    assert len(fake.routed("recraft.generate")) == 2


def test_a_dripping_body_hits_the_overall_deadline(fake, fast):
    fake.add_fault("recraft.generate", "drip", interval=0.05)
    error = failure(fast, deadline=0.6)
    assert "did not finish answering" in str(error)
    assert error.charged is True


def test_latency_under_the_timeouts_is_fine(fake, fast):
    fake.add_fault("recraft.generate", "latency", seconds=0.2)
    assert generate(fast).attempts == 1


def test_malformed_json_is_a_clear_error(fake, fast):
    fake.add_fault("recraft.generate", "malformed_json")
    error = failure(fast)
    assert "malformed JSON" in str(error)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("html", "web page"),
        ("html_as_png", "web page or text"),
        ("bomb", "decompression bomb"),
        ("truncated", "damaged or cut short"),
    ],
)
def test_bad_downloads_are_refused_permanently(fake, fast, kind, words):
    fake.add_fault("files", kind)
    error = failure(fast)
    assert error.permanent and words in str(error)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_download_link_says_so(fake, fast, status):
    fake.add_fault("files", "expired", status=status)
    error = failure(fast)
    assert error.permanent and "expired" in str(error)


@pytest.mark.parametrize("declare", [True, False])
def test_an_oversized_download_is_cut_off(fake, fast, settings, declare):
    settings.TURNAROUND_MAX_DOWNLOAD_BYTES = 200_000
    fake.add_fault("files", "oversized", size=5_000_000, declare=declare)
    error = failure(fast)
    assert error.permanent and "more than 200,000 bytes" in str(error)


def test_downloads_only_come_from_allowed_hosts(fake, fast, settings):
    settings.TURNAROUND_DOWNLOAD_HOSTS = []  # the loopback fake is plain http: not allowed
    error = failure(fast)
    assert error.permanent and "host Turnaround does not fetch from" in str(error)
    assert fake.routed("files") == []


def test_each_redirect_hop_is_checked(fake, fast):
    fake.add_fault("files", "redirect", location="https://evil.example.com/x.png")
    error = failure(fast)
    assert "evil.example.com" in str(error)


def test_an_allowed_redirect_is_followed(fake, fast):
    fake.add_fault(
        "files", "redirect", location=fake.store(portrait_png("r", 1, 64, 80), "image/png")
    )
    result = generate(fast)
    assert (result.assets[0].width, result.assets[0].height) == (64, 80)
    assert len(fake.routed("files")) == 2
