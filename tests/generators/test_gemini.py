"""Gemini's sheet, edit and inspect clients against the fake server over real HTTP."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import pytest
from PIL import Image

from characters.generators import gemini
from characters.generators.base import GenerationRequest, GeneratorError, ReferenceImage
from characters.generators.gemini import GeminiGenerator, inspect_schema
from tests.fakes.server import GEMINI_KEY, portrait_png

FACE = ReferenceImage(portrait_png("face", 3, 224, 296), "image/png", "face")
SHEET = GenerationRequest(stage="sheet", prompt="Turnaround sheet, six panels", references=(FACE,))


def generate(fast, request=SHEET, **kwargs):
    generator = GeminiGenerator(**{**fast, **kwargs})
    try:
        return generator.generate(request)
    finally:
        generator.close()


def failure(fast, request=SHEET, **kwargs) -> GeneratorError:
    with pytest.raises(GeneratorError) as info:
        generate(fast, request, **kwargs)
    return info.value


def test_it_makes_a_4k_sheet(fake, fast):
    result = generate(fast)
    (asset,) = result.assets
    # The final image, not the interim "thought" image sent before it.
    assert (asset.mime, asset.width, asset.height) == ("image/png", 5504, 3072)
    assert asset.metadata["thought_signature"] == "c2lnLTI="
    # Image tokens at the image rate; the text part and thinking tokens at the text rate.
    assert result.cost_usd == (
        Decimal(2000) * Decimal("0.00012")
        + Decimal(10 + 150) * Decimal("0.000012")
        + Decimal(270) * Decimal("0.000002")
    )
    assert result.attempts == 1
    (sent,) = fake.routed("gemini.generate")
    assert sent.path == "/gemini/v1beta/models/gemini-3-pro-image:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": SHEET.prompt},
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(FACE.data).decode(),
                        }
                    },
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "4K"},
        },
    }


def test_it_edits_a_panel_at_the_requested_size(fake, fast):
    request = GenerationRequest(
        "edit", "Remove the earbud", references=(FACE,), aspect_ratio="3:4", image_size="2K"
    )
    result = generate(fast, request)
    assert (result.assets[0].width, result.assets[0].height) == (1792, 2400)
    config = fake.routed("gemini.generate")[0].json()["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "3:4", "imageSize": "2K"}


@pytest.mark.parametrize("size", ["4k", "1k", "8K", "4096"])
def test_image_size_must_be_exact(fake, fast, size):
    error = failure(fast, GenerationRequest("sheet", "s", image_size=size))
    assert error.permanent and "exactly 1K, 2K or 4K" in str(error)
    assert fake.routed("gemini.generate") == []


def test_the_fake_rejects_a_lowercase_size_like_the_api(fake, fast):
    generator = GeminiGenerator(**fast)
    with pytest.raises(GeneratorError) as info:
        generator.http.request(
            "POST",
            "/v1beta/models/gemini-3-pro-image:generateContent",
            json_body={
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "generationConfig": {"imageConfig": {"imageSize": "4k"}},
            },
        )
    generator.close()
    assert info.value.permanent and "imageSize" in str(info.value)


def test_the_100mb_cap_is_enforced_before_sending(fake, fast):
    big = ReferenceImage(b"\x89PNG" + b"\x00" * 80_000_000, "image/png")
    error = failure(fast, GenerationRequest("sheet", "s", references=(big,)))
    assert error.permanent and "at most 100 MB" in str(error)
    assert fake.routed("gemini.generate") == []


@pytest.mark.parametrize(
    "reason", ["IMAGE_SAFETY", "PROHIBITED_CONTENT", "NO_IMAGE", "IMAGE_OTHER"]
)
def test_a_safety_refusal_is_blocked_not_retried(fake, fast, reason, sleeps):
    fake.add_fault(
        "gemini.generate", "safety", reason=reason, message="The image may depict a real person."
    )
    error = failure(fast)
    assert error.blocked and error.permanent
    assert reason in str(error) and "real person" in str(error)
    assert error.attempts == 1
    assert len(fake.routed("gemini.generate")) == 1
    assert sleeps.calls == []


def test_a_blocked_prompt_is_blocked(fake, fast):
    fake.add_fault("gemini.generate", "prompt_block", reason="PROHIBITED_CONTENT")
    error = failure(fast)
    assert error.blocked and "PROHIBITED_CONTENT" in str(error)


def test_a_text_only_answer_is_not_a_refusal(fake, fast):
    fake.add_fault("gemini.generate", "text_only")
    error = failure(fast)
    assert not error.blocked and not error.permanent
    assert "without an image" in str(error) and "Here is the sheet" in str(error)


def test_it_honours_retry_info(fake, fast, sleeps):
    fake.add_fault("gemini.generate", "status", status=429, retry_delay="23s")
    result = generate(fast, deadline=60)  # the injected sleep does not move the clock
    assert result.attempts == 2
    assert sleeps.calls == [23.0]


def test_a_long_retry_info_gives_up_with_googles_message(fake, fast, sleeps):
    fake.add_fault(
        "gemini.generate",
        "status",
        status=429,
        retry_delay="600s",
        message="Quota exceeded for metric",
    )
    error = failure(fast)
    assert not error.permanent and error.status_code == 429
    assert "Quota exceeded" in str(error) and "600" in str(error)
    assert sleeps.calls == []


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(fake, fast, status):
    fake.add_fault("gemini.generate", "status", status=status)
    assert generate(fast).attempts == 2


def test_a_wrong_key_is_permanent_and_not_shown(fake, fast):
    error = failure(fast, api_key="AIza-wrong-key")
    assert error.permanent and error.status_code == 400
    assert "API key not valid" in str(error)
    assert "AIza-wrong-key" not in str(error)


@pytest.mark.parametrize(
    ("kind", "words"),
    [("html_image", "web page"), ("bomb", "decompression bomb"), ("truncated", "cut short")],
)
def test_bad_inline_images_are_refused(fake, fast, kind, words):
    fake.add_fault("gemini.generate", kind)
    error = failure(fast)
    assert error.permanent and not error.blocked and words in str(error)


def test_a_hung_request_is_retried_once(fake, fast):
    fake.add_fault("gemini.generate", "hang", times=1, seconds=3)
    result = generate(fast)
    assert result.attempts == 2


def test_malformed_json_is_a_clear_error(fake, fast):
    fake.add_fault("gemini.generate", "malformed_json")
    assert "malformed JSON" in str(failure(fast))


def panels() -> tuple[ReferenceImage, ...]:
    return tuple(
        ReferenceImage(portrait_png("p", i, 96, 128), "image/png", label)
        for i, label in enumerate(("front", "profile"))
    )


def test_it_inspects_panels_into_findings(fake, fast):
    request = GenerationRequest("inspect", "Which panel shows the AirPod?", references=panels())
    result = generate(fast, request)
    assert result.data == {
        "findings": [
            {
                "panel": "front",
                "box": [0.62, 0.18, 0.12, 0.1],
                "reason": "An earbud appears in the left ear.",
            }
        ],
        "skipped": [],
    }
    # Thinking tokens are priced as text output, like the answer.
    assert result.cost_usd == Decimal(60 + 400) * Decimal("0.000012") + Decimal(1200) * Decimal(
        "0.000002"
    )
    assert result.model == "gemini-3.1-pro-preview"
    assert result.assets == []
    sent = fake.routed("gemini.generate")[0]
    assert sent.path.endswith("/gemini-3.1-pro-preview:generateContent")
    body = sent.json()
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": inspect_schema(["front", "profile"]),
    }
    schema = body["generationConfig"]["responseSchema"]["items"]["properties"]
    assert schema["panel"]["enum"] == ["front", "profile"]
    assert (schema["box"]["minItems"], schema["box"]["maxItems"]) == (4, 4)
    texts = [p["text"] for p in body["contents"][0]["parts"] if "text" in p]
    assert texts[1:] == ["Panel: front", "Panel: profile"]


def test_an_inspection_that_is_not_json_is_a_clear_error(fake, fast):
    fake.add_fault("gemini.generate", "bad_findings")
    error = failure(fast, GenerationRequest("inspect", "AirPod?", references=panels()))
    assert "not valid JSON" in str(error)


def test_findings_boxes_are_kept_inside_the_panel():
    findings, skipped = GeminiGenerator.parse_findings(
        '[{"panel": "front", "box": [0.9, -0.1, 0.5, 0.2], "reason": "r"}]', labels=["front"]
    )
    x, y, w, h = findings[0]["box"]
    assert (x, y) == (0.9, 0.0) and w == pytest.approx(0.1) and h == 0.2
    assert skipped == []


def test_a_finding_that_does_not_fit_is_skipped_and_reported_not_fatal():
    findings, skipped = GeminiGenerator.parse_findings(
        '[{"panel": "front", "box": [1, 2], "reason": "r"},'
        ' {"panel": "hat", "box": [0, 0, 0.5, 0.5], "reason": "r"},'
        ' {"panel": "profile", "box": [0.1, 0.1, 0.2, 0.2], "reason": "kept"}]',
        labels=["front", "profile"],
    )
    assert [f["reason"] for f in findings] == ["kept"]
    assert skipped == [
        "Finding 1 on front had no box of four numbers.",
        "Finding 2 named a panel that was not sent ('hat').",
    ]


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "RECITATION", "MODEL_ARMOR"])
def test_a_refused_inspection_ends_blocked_with_googles_words(fake, fast, reason):
    fake.add_fault("gemini.generate", "safety", reason=reason, message="Policy says no.")
    error = failure(fast, GenerationRequest("inspect", "AirPod?", references=panels()))
    assert error.blocked and error.permanent
    assert reason in str(error) and "Policy says no." in str(error)
    assert "JSON" not in str(error)


@pytest.mark.parametrize("reason", ["IMAGE_RECITATION", "RECITATION", "MODEL_ARMOR"])
def test_recitation_and_model_armor_are_refusals_for_images(fake, fast, reason):
    fake.add_fault("gemini.generate", "safety", reason=reason)
    error = failure(fast)
    assert error.blocked and reason in str(error)


def test_an_edit_asks_for_the_panels_aspect_at_least_at_its_resolution(fake, fast):
    panel = ReferenceImage(portrait_png("panel", 1, 917, 1536), "image/png", "front")
    request = GenerationRequest(
        "edit", "Edit this panel: remove the earbud", references=(panel, FACE), width=917,
        height=1536,
    )  # fmt: skip
    result = generate(fast, request)
    config = fake.routed("gemini.generate")[0].json()["generationConfig"]
    # 917:1536 is 0.597: 9:16 (0.5625) is nearer than 2:3 (0.667); 1K (768x1376) is smaller
    # than the panel, so 2K.
    assert config["imageConfig"] == {"aspectRatio": "9:16", "imageSize": "2K"}
    assert (result.assets[0].width, result.assets[0].height) == (1536, 2752)


def test_references_go_at_the_size_the_model_uses_and_the_request_shrinks(fake, fast):
    big = ReferenceImage(portrait_png("face", 5, 3072, 4096), "image/png", "face")
    generate(
        fast, GenerationRequest("sheet", "Turnaround sheet", references=(big,), image_size="1K")
    )
    sent = fake.routed("gemini.generate")[0]
    inline = next(p for p in sent.json()["contents"][0]["parts"] if "inlineData" in p)

    assert inline["inlineData"]["mimeType"] == "image/jpeg"
    with Image.open(io.BytesIO(base64.b64decode(inline["inlineData"]["data"]))) as img:
        assert (img.format, img.size) == ("JPEG", (1536, 2048))
    assert len(sent.body) < len(base64.b64encode(big.data))


def test_a_worker_shrinks_a_face_once_however_many_sheets_it_sends(fake, fast, monkeypatch):
    """The locked face goes with every sheet and edit of a character: shrinking a 4K portrait
    is ~0.5 s of CPU, done once per worker process, and every request carries the same bytes."""
    shrunk = []
    real = gemini.reference_bytes
    monkeypatch.setattr(gemini, "_PREPARED", gemini.OrderedDict())
    monkeypatch.setattr(
        gemini, "reference_bytes", lambda data, mime: shrunk.append(mime) or real(data, mime)
    )
    big = ReferenceImage(portrait_png("face", 6, 3072, 4096), "image/png", "face")
    small = ReferenceImage(portrait_png("panel", 2, 600, 800), "image/png", "front")
    for _ in range(3):
        generate(
            fast,
            GenerationRequest("sheet", "Turnaround", references=(big, small), image_size="1K"),
        )
    assert shrunk == ["image/png", "image/png", "image/png", "image/png"]  # face once, panel x3
    assert len(gemini._PREPARED) == 1  # a small image goes as it is, never kept
    sent = [
        [p["inlineData"] for p in r.json()["contents"][0]["parts"] if "inlineData" in p]
        for r in fake.routed("gemini.generate")
    ]
    assert sent[0] == sent[1] == sent[2]
    assert [part["mimeType"] for part in sent[0]] == ["image/jpeg", "image/png"]
