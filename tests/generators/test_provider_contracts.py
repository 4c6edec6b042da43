"""Contract tests against the official SDKs' own types (dev-only dependencies).

google-genai's pydantic models (extra fields forbidden) validate the generateContent bodies
the Gemini client sends, and responses built from those models parse in the client. The
BytePlus SDK's content-generation task types check the Seedance task body, and a task built
from its ContentGenerationTask parses. A new FinishReason or BlockedReason in the SDK fails
here instead of being misread.
"""

from __future__ import annotations

import base64
import inspect
import typing
from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from characters.generators import gemini
from characters.generators.base import GenerationRequest, ReferenceImage, ShotSpec
from characters.generators.gemini import GeminiGenerator
from characters.generators.seedance import SeedanceGenerator
from tests.fakes.server import portrait_png

genai_types = pytest.importorskip("google.genai.types")
ark_tasks = pytest.importorskip("byteplussdkarkruntime.resources.content_generation.tasks")
ark_params = pytest.importorskip(
    "byteplussdkarkruntime.types.content_generation.create_task_content_param"
)
ark_task = pytest.importorskip(
    "byteplussdkarkruntime.types.content_generation.content_generation_task"
)

FACE = ReferenceImage(portrait_png("face", 3, 224, 296), "image/png", "face")
PANELS = tuple(
    ReferenceImage(portrait_png("p", i, 96, 128), "image/png", label)
    for i, label in enumerate(("front", "profile"))
)


# --- every enum value classified -------------------------------------------------------------


def test_every_finish_reason_in_the_sdk_is_classified():
    sdk = {reason.name for reason in genai_types.FinishReason}
    assert sdk == set(gemini.FINISH_REASONS), (
        f"new in the SDK: {sorted(sdk - set(gemini.FINISH_REASONS))}; "
        f"gone from it: {sorted(set(gemini.FINISH_REASONS) - sdk)}"
    )
    assert set(gemini.FINISH_REASONS.values()) <= {"ok", "refusal", "retryable", "permanent"}
    for reason in ("SAFETY", "RECITATION", "IMAGE_RECITATION", "MODEL_ARMOR", "PROHIBITED_CONTENT"):
        assert gemini.FINISH_REASONS[reason] == "refusal"


def test_every_blocked_reason_in_the_sdk_is_classified():
    sdk = {reason.name for reason in genai_types.BlockedReason}
    assert sdk == set(gemini.BLOCKED_REASONS)
    assert set(gemini.BLOCKED_REASONS.values()) == {"refusal"}


# --- Gemini request bodies -------------------------------------------------------------------


def _validate_body(body: dict) -> None:
    """Each part of the body parses as the SDK's own type (extra fields are forbidden there)
    and dumps back to exactly what was sent: nothing renamed, nothing silently dropped."""
    assert set(body) == {"contents", "generationConfig"}
    for content in body["contents"]:
        parsed = genai_types.Content.model_validate(content)
        dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert _decoded(dumped) == _decoded(content)
    # The SDK builds the wire generationConfig from GenerateContentConfig.
    config = genai_types.GenerateContentConfig.model_validate(body["generationConfig"])
    dumped = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped == body["generationConfig"]


def test_sheet_edit_and_inspect_bodies_validate_against_the_sdk_types(settings):
    client = GeminiGenerator(api_key="k", base_url="http://127.0.0.1:9")
    try:
        sheet = client.image_body(GenerationRequest("sheet", "Sheet", references=(FACE,)))
        edit = client.image_body(
            GenerationRequest(
                "edit",
                "Edit this panel",
                references=(PANELS[0], FACE),
                width=917,
                height=1536,
                history=({"role": "model", "parts": [{"text": "ok", "thoughtSignature": "c2ln"}]},),
            )
        )
        inspect_body = client.inspect_body(
            GenerationRequest("inspect", "AirPod?", references=PANELS)
        )
    finally:
        client.close()
    for body in (sheet, edit, inspect_body):
        _validate_body(body)
    config = genai_types.GenerateContentConfig.model_validate(edit["generationConfig"])
    assert config.image_config.aspect_ratio == "9:16" and config.image_config.image_size == "2K"
    schema = genai_types.Schema.model_validate(inspect_body["generationConfig"]["responseSchema"])
    assert schema.items.properties["panel"].enum == ["front", "profile"]
    assert (schema.items.properties["box"].min_items, schema.items.properties["box"].max_items) == (
        4,
        4,
    )


def _decoded(content: dict) -> dict:
    """The content with base64 fields as bytes: the SDK writes the URL-safe alphabet."""
    parts = []
    for part in content["parts"]:
        part = dict(part)
        if "inlineData" in part:
            data = part["inlineData"]["data"]
            part["inlineData"] = {
                **part["inlineData"],
                "data": base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_")),
            }
        parts.append(part)
    return {**content, "parts": parts}


# --- Gemini responses ------------------------------------------------------------------------


def _sdk_response(parts, finish_reason="STOP", usage=None) -> dict:
    response = genai_types.GenerateContentResponse(
        candidates=[
            genai_types.Candidate(
                content=genai_types.Content(role="model", parts=parts),
                finish_reason=genai_types.FinishReason(finish_reason),
                index=0,
            )
        ],
        usage_metadata=usage,
        model_version="gemini-3-pro-image",
        response_id="resp-sdk-1",
    )
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_an_image_answer_built_from_sdk_types_parses(fake, fast):
    png = portrait_png("answer", 4, 320, 180)
    payload = _sdk_response(
        [
            genai_types.Part(text="Here it is", thought_signature=b"sig-1"),
            genai_types.Part(
                inline_data=genai_types.Blob(mime_type="image/png", data=png),
                thought_signature=b"sig-2",
            ),
        ],
        usage=genai_types.GenerateContentResponseUsageMetadata(
            prompt_token_count=300,
            candidates_token_count=1130,
            candidates_tokens_details=[
                genai_types.ModalityTokenCount(modality="TEXT", token_count=10),
                genai_types.ModalityTokenCount(modality="IMAGE", token_count=1120),
            ],
            thoughts_token_count=200,
        ),
    )
    assert payload["candidates"][0]["content"]["parts"][1]["inlineData"]["data"]  # base64 as JSON
    fake.add_fault("gemini.generate", "canned", payload=payload)
    client = GeminiGenerator(**fast)
    try:
        result = client.generate(GenerationRequest("sheet", "Sheet", references=(FACE,)))
    finally:
        client.close()
    (asset,) = result.assets
    assert asset.data == png and (asset.width, asset.height) == (320, 180)
    assert asset.metadata["thought_signature"] == base64.b64encode(b"sig-2").decode()
    assert result.cost_usd == (
        1120 * Decimal("0.00012") + (10 + 200) * Decimal("0.000012") + 300 * Decimal("0.000002")
    )


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "MODEL_ARMOR"])
def test_an_inspect_refusal_built_from_sdk_types_ends_blocked(fake, fast, reason):
    payload = _sdk_response([], finish_reason=reason)
    fake.add_fault("gemini.generate", "canned", payload=payload)
    client = GeminiGenerator(**fast)
    try:
        with pytest.raises(Exception) as info:
            client.generate(GenerationRequest("inspect", "AirPod?", references=PANELS))
    finally:
        client.close()
    assert getattr(info.value, "blocked", False) and reason in str(info.value)


def test_the_fakes_gemini_answers_are_valid_sdk_responses(fake, fast):
    client = GeminiGenerator(**fast)
    try:
        for body in (
            client.image_body(
                GenerationRequest("sheet", "Sheet", references=(FACE,), image_size="1K")
            ),
            client.inspect_body(GenerationRequest("inspect", "AirPod?", references=PANELS)),
        ):
            response = client.http.request(
                "POST",
                "/v1beta/models/"
                + (
                    "gemini-3.1-pro-preview"
                    if "responseSchema" in str(body)
                    else "gemini-3-pro-image"
                )
                + ":generateContent",
                json_body=body,
            )
            genai_types.GenerateContentResponse.model_validate(response.json())
    finally:
        client.close()


# --- Seedance (BytePlus ModelArk runtime SDK) ------------------------------------------------


def _sdk_create():
    """Tasks.create under the SDK's apikey_required decorator (which keeps no __wrapped__)."""
    fn = ark_tasks.Tasks.create
    for cell in fn.__closure__ or ():
        inner = cell.cell_contents
        if callable(inner) and getattr(inner, "__name__", "") == "create":
            return inner
    return fn


def _create_parameters() -> set[str]:
    signature = inspect.signature(_sdk_create())
    return {
        name
        for name in signature.parameters
        if name not in {"self", "extra_headers", "extra_query", "extra_body", "timeout"}
    }


def test_the_task_body_matches_the_sdks_create_parameters_and_content_types(settings):
    client = SeedanceGenerator(api_key="k", base_url="http://127.0.0.1:9")
    try:
        body = client.task_body(
            GenerationRequest(
                "shot",
                "[Image 1] is Mara's face.\n[Image 1] turns",
                references=(
                    ReferenceImage(b"", "image/jpeg", "Mara: face", uri="asset://asset-1"),
                    PANELS[0],
                ),
                seed=7,
                spec=ShotSpec(number=1, duration=5, ratio="16:9", resolution="720p"),
            )
        )
    finally:
        client.close()
    assert set(body) <= _create_parameters()
    TypeAdapter(list[ark_params.CreateTaskContentParam]).validate_python(body["content"])
    by_type = {
        "text": ark_params.CreateTaskContentTextParam,
        "image_url": ark_params.CreateTaskContentImageParam,
    }
    for item in body["content"]:
        assert set(item) == set(typing.get_type_hints(by_type[item["type"]]))
    hints = typing.get_type_hints(_sdk_create())
    for name in ("seed", "duration", "ratio", "resolution", "watermark", "generate_audio"):
        TypeAdapter(hints[name]).validate_python(body[name])


def test_a_task_built_from_the_sdks_type_parses(fake, fast):
    video = fake.store(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video/mp4")
    task = ark_task.ContentGenerationTask.model_validate(
        {
            "id": "cgt-sdk-1",
            "model": "dreamina-seedance-2-0-260128",
            "status": "succeeded",
            "error": {"message": "", "code": ""},
            "content": {"video_url": video, "last_frame_url": "", "file_url": ""},
            "usage": {"completion_tokens": 108900},
            "subdivisionlevel": "",
            "fileformat": "mp4",
            "frames": 120,
            "framespersecond": 24,
            "created_at": 1767225600,
            "updated_at": 1767225730,
            "seed": 42,
            "revised_prompt": "",
            "service_tier": "default",
            "execution_expires_after": 172800,
            "priority": 0,
            "generate_audio": False,
            "duration": 5,
            "ratio": "16:9",
            "resolution": "720p",
            "draft": False,
            "draft_task_id": "",
        }
    )
    fake.add_fault("ark.poll", "canned", payload=task.model_dump(mode="json"))
    client = SeedanceGenerator(**fast)
    try:
        result = client.generate(
            GenerationRequest("shot", "x", references=(PANELS[0],), resume_id="cgt-sdk-1")
        )
    finally:
        client.close()
    assert result.provider_request_id == "cgt-sdk-1"
    assert result.cost_usd == Decimal("108.9") * Decimal("0.007")
    assert result.assets[0].metadata["framespersecond"] == 24
