"""Gemini (Nano Banana Pro): turnaround sheets, panel edits, continuity inspection and panel labels.

Long because one client speaks four request shapes (image, edit, inspection, labels) and parses
each answer strictly, on one shared transport.

Long because one client holds three stages and the provider's tables (every FinishReason and
BlockedReason classified, output sizes, retired models) that the contract tests check.

Wire format: ../shared/providers/gemini.md. Images come back inline as base64, so there is no
download step; the decoded bytes still pass the one guarded decode path. Safety refusals arrive
as HTTP 200 and become blocked generations with Google's own reason, never retries.

Models (checked 2026-12 against Google's deprecations page): `gemini-3-pro-image` (Nano Banana
Pro, GA since 2026-05-28) makes sheets and edits; `gemini-3.1-pro-preview` inspects. The preview
ids listed in RETIRED_MODELS are shut down; `manage.py providers --check` asks the API about the
configured ones and names any that is unknown or retired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from django.conf import settings
from PIL import Image

from .base import (
    GeneratedAsset,
    GenerationRequest,
    GenerationResult,
    GeneratorError,
    InspectSpec,
    LabelSpec,
    ModelStatus,
    reported_number,
)
from .http import ProviderTransport, checked_image, transport_from_settings

ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
IMAGE_SIZES = frozenset({"1K", "2K", "4K"})  # exactly these: the API rejects "4k"
MAX_REFERENCES = 14
# Whole request, inline images included (base64 counts): 100 MB since 2026-01-08 (was 20 MB).
MAX_REQUEST_BYTES = 100 * 1024 * 1024
# Reference images go at most this long side. Gemini 3 tokenises an input image at a fixed
# resolution (1120 tokens at "high" media resolution), so a 4K PNG mostly costs upload time;
# 2048 px keeps every detail the model reads and a margin for the 2K/4K output it draws.
REFERENCE_MAX_SIDE = 2048

# Shut-down model ids: (date it stopped, the replacement). Google's deprecations page.
RETIRED_MODELS = {
    "gemini-3-pro-image-preview": ("2026-06-25", "gemini-3-pro-image"),
    "gemini-3.1-flash-image-preview": ("2026-06-25", "gemini-3.1-flash-image"),
    "gemini-3-pro-preview": ("2026-03-09", "gemini-3.1-pro-preview"),
    "gemini-2.5-flash-image-preview": ("2025-10-31", "gemini-3.1-flash-image"),
}

# Every FinishReason in the official google-genai SDK, classified. A value missing here fails
# tests/generators/test_gemini_contract.py, so a new one is never silently misread.
#   ok:        a normal end; the answer is read as usual
#   refusal:   Google declined on policy grounds: blocked, with its words, never retried
#   retryable: an odd end that another attempt may not repeat
#   permanent: the request itself is at fault; the same request fails the same way
FINISH_REASONS = {
    "STOP": "ok",
    "FINISH_REASON_UNSPECIFIED": "retryable",
    "MAX_TOKENS": "retryable",
    "CONTINUATION": "retryable",
    "OTHER": "retryable",
    "IMAGE_OTHER": "refusal",
    "NO_IMAGE": "refusal",
    "MALFORMED_FUNCTION_CALL": "retryable",
    "UNEXPECTED_TOOL_CALL": "retryable",
    "TOO_MANY_TOOL_CALLS": "retryable",
    "MALFORMED_RESPONSE": "retryable",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
    "MODEL_ARMOR": "refusal",
    "ESCALATION": "refusal",
    "PUP_LIMITED_DISABLED": "refusal",
    "LANGUAGE": "permanent",
    "MISSING_THOUGHT_SIGNATURE": "permanent",
}
# Every BlockedReason (promptFeedback.blockReason): a blocked prompt is a refusal, whatever the
# value; listed so the SDK-enumeration test catches a new one.
BLOCKED_REASONS = {
    "BLOCKED_REASON_UNSPECIFIED": "refusal",
    "SAFETY": "refusal",
    "OTHER": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "IMAGE_SAFETY": "refusal",
    "MODEL_ARMOR": "refusal",
    "JAILBREAK": "refusal",
}
# Output sizes of gemini-3-pro-image per aspect ratio at 1K; 2K and 4K are x2 and x4.
OUTPUT_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
SIZE_FACTORS = {"1K": 1, "2K": 2, "4K": 4}
INSPECT_INSTRUCTIONS = (
    "You check a character turnaround sheet for continuity errors. The panels follow, each "
    "introduced by its label. Answer the question with a JSON list of findings, one per "
    "problem: panel (the label), box [x, y, w, h] as fractions 0-1 of that panel, and reason "
    "(one short sentence). Answer [] when there is nothing to report."
)


def inspect_schema(labels: list[str]) -> dict[str, Any]:
    """The answer's shape: the panel one of the labels sent, the box exactly four numbers."""
    return {
        "type": "ARRAY",
        "items": {
            "type": "OBJECT",
            "properties": {
                "panel": {"type": "STRING", "enum": list(labels)},
                "box": {
                    "type": "ARRAY",
                    "items": {"type": "NUMBER", "minimum": 0, "maximum": 1},
                    "minItems": 4,
                    "maxItems": 4,
                },
                "reason": {"type": "STRING"},
            },
            "required": ["panel", "box", "reason"],
        },
    }


LABEL_INSTRUCTIONS = (
    "This is a character turnaround sheet. Its panels are listed below as numbered regions, "
    "each a box [x, y, w, h] in fractions of the sheet's width and height. Say what each "
    "region shows, choosing every kind exactly once from: {kinds}. Full-body views are head to "
    "toe: front faces the camera, three-quarter is turned part way, profile is side-on, back "
    "faces away. A face close-up is the head alone; a mid close-up is chest up. Answer with a "
    "JSON list of {{region, kind}}."
)
LABEL_SCHEMA = {
    "type": "ARRAY",
    "items": {
        "type": "OBJECT",
        "properties": {"region": {"type": "INTEGER"}, "kind": {"type": "STRING"}},
        "required": ["region", "kind"],
    },
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def closest_ratio(width: int, height: int) -> str:
    """The supported aspect ratio nearest to width:height (compared on a log scale)."""
    want = math.log(width / height)
    return min(OUTPUT_1K, key=lambda r: abs(math.log(OUTPUT_1K[r][0] / OUTPUT_1K[r][1]) - want))


def size_for(ratio: str, width: int, height: int) -> str:
    """The smallest image size whose output at `ratio` covers width x height (4K at most)."""
    base_w, base_h = OUTPUT_1K[ratio]
    for size, factor in SIZE_FACTORS.items():
        if base_w * factor >= width and base_h * factor >= height:
            return size
    return "4K"


def output_size(ratio: str, size: str) -> tuple[int, int]:
    base_w, base_h = OUTPUT_1K[ratio]
    return base_w * SIZE_FACTORS[size], base_h * SIZE_FACTORS[size]


def reference_bytes(data: bytes, mime: str) -> tuple[bytes, str]:
    """A reference image at the size the model uses: at most REFERENCE_MAX_SIDE on its long
    side. Only an image that had to shrink is re-encoded, as JPEG at quality 95 (visually
    lossless at that size, a fraction of a PNG's bytes); smaller images go as they are."""
    try:
        with Image.open(io.BytesIO(data)) as src:
            if max(src.size) <= REFERENCE_MAX_SIDE:
                return data, mime
            img = src.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return data, mime  # not an image Pillow reads: sent as it is, Gemini judges it
    img.thumbnail((REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue(), "image/jpeg"


# References this process has shrunk, by content: a worker sends the same locked face with
# every sheet and edit of a character, and shrinking a 4K portrait costs ~0.5 s of CPU. Only
# shrunk images are kept (the rest go as they are), a few MB at most.
_PREPARED: OrderedDict[tuple[bytes, str], tuple[str, str]] = OrderedDict()
_PREPARED_KEPT = 8


def reference_inline(data: bytes, mime: str) -> dict[str, Any]:
    """A reference as an inlineData part, at the size the model uses."""
    key = (hashlib.sha256(data).digest(), mime)
    kept = _PREPARED.get(key)
    if kept is not None:
        _PREPARED.move_to_end(key)
        kind, encoded = kept
    else:
        prepared, kind = reference_bytes(data, mime)
        encoded = b64(prepared)
        if prepared is not data:
            _PREPARED[key] = (kind, encoded)
            while len(_PREPARED) > _PREPARED_KEPT:
                _PREPARED.popitem(last=False)
    return {"inlineData": {"mimeType": kind, "data": encoded}}


class GeminiGenerator:
    name = "gemini"
    display = "Gemini"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        image_model: str | None = None,
        inspect_model: str | None = None,
        **transport_options: Any,
    ) -> None:
        self.image_model = image_model or settings.GEMINI_IMAGE_MODEL
        self.inspect_model = inspect_model or settings.GEMINI_INSPECT_MODEL
        key = api_key if api_key is not None else settings.GEMINI_API_KEY
        self.http: ProviderTransport = transport_from_settings(
            provider=self.display,
            base_url=base_url or settings.GEMINI_API_BASE,
            auth_headers={"x-goog-api-key": key},
            download_hosts=(),  # images come inline; nothing to download
            **transport_options,
        )

    def __repr__(self) -> str:
        return f"GeminiGenerator(image_model={self.image_model!r})"

    def model_for(self, stage: str) -> str:
        return self.inspect_model if stage in ("inspect", "label") else self.image_model

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        prices = settings.TURNAROUND_PRICES
        if request.stage in ("inspect", "label"):
            return prices["gemini_inspect_estimate"]
        size = request.image_size or settings.TURNAROUND_SHEET_IMAGE_SIZE
        return prices["gemini_image_4k_estimate" if size == "4K" else "gemini_image_2k_estimate"]

    def close(self) -> None:
        self.http.close()

    def check(self) -> str:
        # The model list, one entry: the key works whatever the configured models are.
        self.http.request("GET", "/v1beta/models?pageSize=1")
        return "authenticated"

    def check_models(self) -> list[ModelStatus]:
        """Ask the API about each configured model: retired ids by name, unknown ones (404)."""
        found = []
        for setting, model in (
            ("GEMINI_IMAGE_MODEL", self.image_model),
            ("GEMINI_INSPECT_MODEL", self.inspect_model),
        ):
            if model in RETIRED_MODELS:
                date, replacement = RETIRED_MODELS[model]
                found.append(
                    ModelStatus(
                        setting,
                        model,
                        "retired",
                        f"Google shut it down on {date}; set {setting}={replacement}",
                    )
                )
                continue
            response = self.http.request("GET", f"/v1beta/models/{model}", ok_statuses=(404,))
            if response.status_code == 404:
                found.append(
                    ModelStatus(setting, model, "unknown", "Gemini's API does not know this model")
                )
            else:
                found.append(ModelStatus(setting, model, "ok"))
        return found

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.stage in ("sheet", "edit"):
            return self._image(request)
        if request.stage == "inspect":
            return self._inspect(request)
        if request.stage == "label":
            return self._label(request)
        raise GeneratorError(f"Gemini does not serve the {request.stage} stage.", permanent=True)

    # --- request building -----------------------------------------------------------------

    def image_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact JSON sent for a sheet or an edit (camelCase, as the official SDK sends)."""
        if len(request.references) > MAX_REFERENCES:
            raise GeneratorError(
                f"Gemini takes at most {MAX_REFERENCES} reference images; "
                f"{len(request.references)} were given.",
                permanent=True,
            )
        ratio = request.aspect_ratio
        size = request.image_size
        if request.stage == "sheet":
            ratio = ratio or settings.TURNAROUND_SHEET_ASPECT_RATIO
            size = size or settings.TURNAROUND_SHEET_IMAGE_SIZE
        elif request.stage == "edit" and request.width and request.height:
            # Without imageConfig Gemini answers at its default size and an aspect it picks:
            # ask for the panel's shape, at least at the panel's resolution.
            ratio = ratio or closest_ratio(request.width, request.height)
            size = size or size_for(ratio, request.width, request.height)
        image_config: dict[str, str] = {}
        if ratio is not None:
            if ratio not in ASPECT_RATIOS:
                raise GeneratorError(
                    f"Gemini does not make {ratio!r} images; use one of "
                    f"{', '.join(sorted(ASPECT_RATIOS))}.",
                    permanent=True,
                )
            image_config["aspectRatio"] = ratio
        if size is not None:
            if size not in IMAGE_SIZES:
                raise GeneratorError(
                    f"Gemini image size must be exactly 1K, 2K or 4K (uppercase K), not {size!r}.",
                    permanent=True,
                )
            image_config["imageSize"] = size
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        parts += [reference_inline(ref.data, ref.mime) for ref in request.references]
        # Multi-turn edits send the earlier turns back exactly as they came (with signatures).
        history = list(request.history)
        config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        if image_config:
            config["imageConfig"] = image_config
        return {
            "contents": [*history, {"role": "user", "parts": parts}],
            "generationConfig": config,
        }

    def inspect_body(self, request: GenerationRequest) -> dict[str, Any]:
        if not request.references:
            raise GeneratorError("Inspection needs the panel images.", permanent=True)
        parts: list[dict[str, Any]] = [{"text": self.inspect_question(request)}]
        spec = request.spec if isinstance(request.spec, InspectSpec) else InspectSpec(panels=())
        frame_label = spec.frame
        for index, ref in enumerate(request.references, start=1):
            if frame_label and ref.label == frame_label:
                parts.append({"text": self.frame_caption(request)})
            else:
                parts.append({"text": f"Panel: {ref.label or f'panel_{index}'}"})
            parts.append(reference_inline(ref.data, ref.mime))
        return {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": inspect_schema(self.panel_labels(request)),
            },
        }

    def label_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The sheet (small: the model sees it at a fixed resolution) and its numbered regions."""
        spec = request.spec
        if not isinstance(spec, LabelSpec) or not request.references:
            raise GeneratorError("Labelling needs the sheet and its regions.", permanent=True)
        lines = [LABEL_INSTRUCTIONS.format(kinds=", ".join(spec.kinds))]
        for number, box in enumerate(spec.regions, start=1):
            lines.append(f"Region {number}: [{', '.join(f'{v:.3f}' for v in box)}]")
        sheet = request.references[0]
        return {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "\n".join(lines)},
                        {"inlineData": {"mimeType": sheet.mime, "data": b64(sheet.data)}},
                    ],
                }
            ],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": LABEL_SCHEMA,
            },
        }

    @staticmethod
    def panel_labels(request: GenerationRequest) -> list[str]:
        """The labels of the panels sent (not the shot frame): the only answers allowed."""
        spec = request.spec if isinstance(request.spec, InspectSpec) else InspectSpec(panels=())
        return [
            ref.label or f"panel_{i}"
            for i, ref in enumerate(request.references, start=1)
            if not (spec.frame and ref.label == spec.frame)
        ]

    @staticmethod
    def inspect_question(request: GenerationRequest) -> str:
        """The instructions, the reviewer's note, and what the brief requires (never a finding)."""
        lines = [INSPECT_INSTRUCTIONS, "", f"Question: {request.prompt}"]
        spec = request.spec if isinstance(request.spec, InspectSpec) else InspectSpec(panels=())
        if spec.required_marks:
            lines.append(
                "Distinguishing marks the brief requires (never report them as errors): "
                + spec.required_marks
            )
        if spec.required_listed:
            lines.append(
                "What the brief and wardrobe list (report them only if the question names them): "
                + spec.required_listed
            )
        return "\n".join(lines)

    @staticmethod
    def frame_caption(request: GenerationRequest) -> str:
        """The still of the shot where the reviewer saw the error: not a panel, never a finding."""
        caption = "Frame from the shot where the reviewer saw it (not a panel of the sheet)"
        spec = request.spec if isinstance(request.spec, InspectSpec) else InspectSpec(panels=())
        if spec.timecode is not None:
            caption += f", at {spec.timecode:.1f} s"
        box = spec.box
        if box:
            x, y, w, h = (float(v) for v in box)
            caption += (
                f"; their box on it, as fractions x, y, w, h: {x:.3f}, {y:.3f}, {w:.3f}, {h:.3f}"
            )
        return caption + ":"

    def _post(self, model: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        content = json.dumps(body, separators=(",", ":")).encode()
        if len(content) > MAX_REQUEST_BYTES:
            raise GeneratorError(
                f"The request to Gemini is {len(content) / 1_048_576:.1f} MB with its reference "
                f"images; Gemini accepts at most {MAX_REQUEST_BYTES // 1_048_576} MB. Use fewer "
                "or smaller references.",
                permanent=True,
            )
        response = self.http.request(
            "POST",
            f"/v1beta/models/{model}:generateContent",
            content=content,
            headers={"content-type": "application/json"},
            paid=True,
            # 4K images come back inline as base64, a third larger than the file itself.
            max_bytes=self.http.max_download_bytes * 4 // 3 + 65_536,
        )
        payload = response.json()
        if not isinstance(payload, dict):
            raise GeneratorError(
                "Gemini answered with something other than a JSON object.",
                permanent=False,
                attempts=response.attempts,
            )
        return payload, response.attempts

    # --- responses ------------------------------------------------------------------------

    @staticmethod
    def _refusal(payload: dict[str, Any], attempts: int, *, had_answer: bool) -> None:
        """Raise when the answer ended for any reason but a normal one (FINISH_REASONS)."""
        candidates = payload.get("candidates") or []
        if not candidates:
            feedback = payload.get("promptFeedback") or {}
            reason = feedback.get("blockReason")
            if reason:
                detail = feedback.get("blockReasonMessage") or ""
                raise GeneratorError(
                    f"Gemini refused the prompt ({reason}){': ' + detail if detail else '.'}",
                    permanent=True,
                    blocked=True,
                    attempts=attempts,
                )
            raise GeneratorError(
                "Gemini answered with no result and no reason.", permanent=False, attempts=attempts
            )
        candidate = candidates[0]
        reason = str(candidate.get("finishReason") or "STOP")
        kind = FINISH_REASONS.get(reason, "retryable")
        if kind == "ok" or had_answer:
            return
        detail = candidate.get("finishMessage") or ""
        words = f"({reason}){': ' + detail if detail else '.'}"
        if kind == "refusal":
            raise GeneratorError(
                f"Gemini refused this {words}", permanent=True, blocked=True, attempts=attempts
            )
        raise GeneratorError(
            f"Gemini stopped without an answer {words}"
            + ("" if kind == "permanent" else " Trying again may help."),
            permanent=kind == "permanent",
            attempts=attempts,
            charged=True,
        )

    @staticmethod
    def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
        candidates = payload.get("candidates") or []
        if not candidates:
            return []
        content = candidates[0].get("content") or {}
        return [p for p in content.get("parts") or [] if isinstance(p, dict)]

    def _cost(self, payload: dict[str, Any], *, fallback: Decimal, image: bool) -> Decimal:
        """Cost from usageMetadata: image output tokens at the image rate; text output and
        thinking tokens (thoughtsTokenCount) at the text-output rate; input at the input rate."""
        usage = payload.get("usageMetadata") or {}
        prices = settings.TURNAROUND_PRICES
        output = reported_number(usage.get("candidatesTokenCount"))
        if output is None:
            return fallback
        image_tokens = Decimal(0)
        if image:
            details = usage.get("candidatesTokensDetails")
            if isinstance(details, list) and details:
                image_tokens = sum(
                    (
                        reported_number(d.get("tokenCount")) or Decimal(0)
                        for d in details
                        if isinstance(d, dict) and d.get("modality") == "IMAGE"
                    ),
                    Decimal(0),
                )
            else:
                image_tokens = output  # no breakdown: the answer is the image
        thoughts = reported_number(usage.get("thoughtsTokenCount")) or Decimal(0)
        prompt = reported_number(usage.get("promptTokenCount")) or Decimal(0)
        for count in (output, image_tokens, thoughts, prompt):
            if not count.is_finite():
                return count  # NaN or Infinity: the runner refuses it and keeps the estimate
        text_tokens = output - image_tokens + thoughts
        return (
            image_tokens * prices["gemini_usd_per_image_output_token"]
            + text_tokens * prices["gemini_usd_per_text_output_token"]
            + prompt * prices["gemini_usd_per_input_token"]
        )

    def _image(self, request: GenerationRequest) -> GenerationResult:
        body = self.image_body(request)
        model = self.image_model
        payload, attempts = self._post(model, body)
        parts = self._parts(payload)
        final = [p for p in parts if "inlineData" in p and not p.get("thought")]
        self._refusal(payload, attempts, had_answer=bool(final))
        text = " ".join(p["text"] for p in parts if "text" in p and not p.get("thought")).strip()
        if not final:
            raise GeneratorError(
                "Gemini answered without an image"
                + (f": {text[:300]}" if text else ".")
                + " Trying again may help.",
                permanent=False,
                attempts=attempts,
                charged=True,
            )
        part = final[-1]
        try:
            encoded = part["inlineData"]["data"]
            # Standard base64 from the API; the SDK's own models write the URL-safe alphabet.
            if isinstance(encoded, str) and ("-" in encoded or "_" in encoded):
                data = base64.urlsafe_b64decode(encoded)
            else:
                data = base64.b64decode(encoded, validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise GeneratorError(
                "Gemini's image data could not be decoded.",
                permanent=False,
                attempts=attempts,
                charged=True,
            ) from exc
        mime, width, height = checked_image(data, "Gemini's image", attempts=attempts)
        image_config = body["generationConfig"].get("imageConfig", {})
        meta = {
            "aspect_ratio": image_config.get("aspectRatio"),
            "image_size": image_config.get("imageSize"),
            # Kept so a later edit can send this turn back (multi-turn editing).
            "thought_signature": part.get("thoughtSignature", ""),
        }
        return GenerationResult(
            assets=[GeneratedAsset(data, mime, width, height, meta)],
            provider=self.name,
            model=payload.get("modelVersion") or model,
            cost_usd=self._cost(payload, fallback=self.estimate_cost(request), image=True),
            provider_request_id=str(payload.get("responseId", "")),
            text=text,
            metadata={"usage": payload.get("usageMetadata", {})},
            attempts=attempts,
        )

    def _inspect(self, request: GenerationRequest) -> GenerationResult:
        body = self.inspect_body(request)
        payload, attempts = self._post(self.inspect_model, body)
        text = "".join(
            p["text"] for p in self._parts(payload) if "text" in p and not p.get("thought")
        )
        # A refused inspection has no text: it ends blocked with Google's words, not as
        # "not valid JSON".
        self._refusal(payload, attempts, had_answer=bool(text.strip()))
        findings, skipped = self.parse_findings(
            text, labels=self.panel_labels(request), attempts=attempts
        )
        return GenerationResult(
            assets=[],
            provider=self.name,
            model=payload.get("modelVersion") or self.inspect_model,
            cost_usd=self._cost(
                payload,
                fallback=settings.TURNAROUND_PRICES["gemini_inspect_estimate"],
                image=False,
            ),
            provider_request_id=str(payload.get("responseId", "")),
            text=text,
            data={"findings": findings, "skipped": skipped},
            metadata={"usage": payload.get("usageMetadata", {})},
            attempts=attempts,
        )

    def _label(self, request: GenerationRequest) -> GenerationResult:
        body = self.label_body(request)
        payload, attempts = self._post(self.inspect_model, body)
        text = "".join(
            p["text"] for p in self._parts(payload) if "text" in p and not p.get("thought")
        )
        self._refusal(payload, attempts, had_answer=bool(text.strip()))
        spec = request.spec
        assert isinstance(spec, LabelSpec)  # label_body checked it
        labels = self.parse_labels(text, spec, attempts=attempts)
        return GenerationResult(
            assets=[],
            provider=self.name,
            model=payload.get("modelVersion") or self.inspect_model,
            cost_usd=self._cost(payload, fallback=self.estimate_cost(request), image=False),
            provider_request_id=str(payload.get("responseId", "")),
            text=text,
            data={"labels": labels},
            metadata={"usage": payload.get("usageMetadata", {})},
            attempts=attempts,
        )

    @staticmethod
    def parse_labels(text: str, spec: LabelSpec, *, attempts: int = 1) -> dict[int, str]:
        """Region number -> kind, only when the answer names every region with a distinct kind
        of the layout; anything else is an answer the split cannot use."""

        def unusable(why: str) -> GeneratorError:
            return GeneratorError(
                f"Gemini's panel labels {why}, so the split keeps its own reading.",
                permanent=True,
                attempts=attempts,
                charged=True,
            )

        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise unusable("were not valid JSON") from exc
        if isinstance(raw, dict):
            raw = raw.get("labels")
        if not isinstance(raw, list):
            raise unusable("were not a list")
        labels: dict[int, str] = {}
        for item in raw:
            if not isinstance(item, dict):
                raise unusable("had an entry that is not a label")
            region, kind = item.get("region"), item.get("kind")
            if not isinstance(region, int) or not 1 <= region <= len(spec.regions):
                raise unusable("named a region that is not on the sheet")
            if kind not in spec.kinds:
                raise unusable(f"used a kind the layout does not have ({kind!r})")
            labels[region] = kind
        if len(labels) != len(spec.regions) or len(set(labels.values())) != len(labels):
            raise unusable("did not name every region once")
        return labels

    @staticmethod
    def parse_findings(
        text: str, *, labels: list[str] | None = None, attempts: int = 1
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """(findings, what was skipped): boxes clamped to the panel. A finding that names no
        panel sent or has no four-number box is skipped and described, never fatal."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise GeneratorError(
                "Gemini's inspection answer was not valid JSON, so no findings were recorded.",
                permanent=False,
                attempts=attempts,
                charged=True,
            ) from exc
        if isinstance(raw, dict):
            raw = raw.get("findings")
        if not isinstance(raw, list):
            raise GeneratorError(
                "Gemini's inspection answer was not a list of findings.",
                permanent=False,
                attempts=attempts,
                charged=True,
            )
        findings: list[dict[str, Any]] = []
        skipped: list[str] = []
        for number, item in enumerate(raw, start=1):
            if not isinstance(item, dict):
                skipped.append(f"Finding {number} was not an object.")
                continue
            panel = str(item.get("panel", ""))
            box = item.get("box")
            if labels is not None and panel not in labels:
                skipped.append(f"Finding {number} named a panel that was not sent ({panel!r}).")
                continue
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
            ):
                skipped.append(f"Finding {number} on {panel} had no box of four numbers.")
                continue
            x, y, w, h = (min(1.0, max(0.0, float(v))) for v in box)
            w, h = min(w, 1.0 - x), min(h, 1.0 - y)
            if w <= 0 or h <= 0:
                skipped.append(f"Finding {number} on {panel} had an empty box.")
                continue
            findings.append(
                {"panel": panel, "box": [x, y, w, h], "reason": str(item.get("reason", ""))}
            )
        return findings, skipped
