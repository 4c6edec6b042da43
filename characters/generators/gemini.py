"""Gemini (Nano Banana Pro): turnaround sheets, panel edits, and continuity inspection.

Wire format: ../shared/providers/gemini.md. Images come back inline as base64, so there is no
download step; the decoded bytes still pass the one guarded decode path. Safety refusals arrive
as HTTP 200 and become blocked generations with Google's own reason, never retries.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any

from django.conf import settings

from .base import GeneratedAsset, GenerationRequest, GenerationResult, GeneratorError, InspectSpec
from .http import ProviderTransport, checked_image, transport_from_settings

ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
IMAGE_SIZES = frozenset({"1K", "2K", "4K"})  # exactly these: the API rejects "4k"
MAX_REFERENCES = 14
MAX_REQUEST_BYTES = 20 * 1024 * 1024
BLOCK_REASONS = frozenset(
    {
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "NO_IMAGE",
        "SAFETY",
        "IMAGE_OTHER",
        "BLOCKLIST",
        "SPII",
    }
)
INSPECT_INSTRUCTIONS = (
    "You check a character turnaround sheet for continuity errors. The panels follow, each "
    "introduced by its label. Answer the question with a JSON list of findings, one per "
    "problem: panel (the label), box [x, y, w, h] as fractions 0-1 of that panel, and reason "
    "(one short sentence). Answer [] when there is nothing to report."
)
INSPECT_SCHEMA = {
    "type": "ARRAY",
    "items": {
        "type": "OBJECT",
        "properties": {
            "panel": {"type": "STRING"},
            "box": {"type": "ARRAY", "items": {"type": "NUMBER"}},
            "reason": {"type": "STRING"},
        },
        "required": ["panel", "box", "reason"],
    },
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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
        return self.inspect_model if stage == "inspect" else self.image_model

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        prices = settings.TURNAROUND_PRICES
        if request.stage == "inspect":
            return prices["gemini_inspect_estimate"]
        size = request.image_size or settings.TURNAROUND_SHEET_IMAGE_SIZE
        return prices["gemini_image_4k_estimate" if size == "4K" else "gemini_image_2k_estimate"]

    def close(self) -> None:
        self.http.close()

    def check(self) -> str:
        payload = self.http.request("GET", f"/v1beta/models/{self.image_model}").json()
        name = payload.get("name", self.image_model) if isinstance(payload, dict) else ""
        return f"authenticated; {name} is available"

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.stage in ("sheet", "edit"):
            return self._image(request)
        if request.stage == "inspect":
            return self._inspect(request)
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
        parts += [
            {"inlineData": {"mimeType": ref.mime, "data": b64(ref.data)}}
            for ref in request.references
        ]
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
            parts.append({"inlineData": {"mimeType": ref.mime, "data": b64(ref.data)}})
        return {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": INSPECT_SCHEMA,
            },
        }

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
                "images; Gemini accepts at most 20 MB. Use fewer or smaller references.",
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
    def _refusal(payload: dict[str, Any], attempts: int, *, had_image: bool) -> None:
        """Raise a blocked error if the answer is a safety refusal."""
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
        reason = candidate.get("finishReason", "")
        if reason in BLOCK_REASONS and not had_image:
            detail = candidate.get("finishMessage") or ""
            raise GeneratorError(
                f"Gemini refused to make this image ({reason}){': ' + detail if detail else '.'}",
                permanent=True,
                blocked=True,
                attempts=attempts,
            )

    @staticmethod
    def _parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
        candidates = payload.get("candidates") or []
        if not candidates:
            return []
        content = candidates[0].get("content") or {}
        return [p for p in content.get("parts") or [] if isinstance(p, dict)]

    def _cost(self, payload: dict[str, Any], *, fallback: Decimal) -> Decimal:
        usage = payload.get("usageMetadata") or {}
        prices = settings.TURNAROUND_PRICES
        output = usage.get("candidatesTokenCount")
        if not isinstance(output, int):
            return fallback
        # Thinking tokens are billed as output tokens.
        output += int(usage.get("thoughtsTokenCount") or 0)
        prompt = int(usage.get("promptTokenCount") or 0)
        return (
            output * prices["gemini_usd_per_output_token"]
            + prompt * prices["gemini_usd_per_input_token"]
        )

    def _image(self, request: GenerationRequest) -> GenerationResult:
        body = self.image_body(request)
        model = self.image_model
        payload, attempts = self._post(model, body)
        parts = self._parts(payload)
        final = [p for p in parts if "inlineData" in p and not p.get("thought")]
        self._refusal(payload, attempts, had_image=bool(final))
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
            data = base64.b64decode(part["inlineData"]["data"], validate=True)
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
            cost_usd=self._cost(payload, fallback=self.estimate_cost(request)),
            provider_request_id=str(payload.get("responseId", "")),
            text=text,
            metadata={"usage": payload.get("usageMetadata", {})},
            attempts=attempts,
        )

    def _inspect(self, request: GenerationRequest) -> GenerationResult:
        body = self.inspect_body(request)
        payload, attempts = self._post(self.inspect_model, body)
        self._refusal(payload, attempts, had_image=True)
        text = "".join(
            p["text"] for p in self._parts(payload) if "text" in p and not p.get("thought")
        )
        findings = self.parse_findings(text, attempts=attempts)
        return GenerationResult(
            assets=[],
            provider=self.name,
            model=payload.get("modelVersion") or self.inspect_model,
            cost_usd=settings.TURNAROUND_PRICES["gemini_inspect_estimate"],
            provider_request_id=str(payload.get("responseId", "")),
            text=text,
            data={"findings": findings},
            metadata={"usage": payload.get("usageMetadata", {})},
            attempts=attempts,
        )

    @staticmethod
    def parse_findings(text: str, *, attempts: int = 1) -> list[dict[str, Any]]:
        """Findings from the model's JSON text; boxes clamped to the panel."""
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
        findings = []
        for item in raw:
            box = item.get("box") if isinstance(item, dict) else None
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, int | float) for v in box)
            ):
                raise GeneratorError(
                    "Gemini's inspection answer had a finding without a valid box.",
                    permanent=False,
                    attempts=attempts,
                    charged=True,
                )
            x, y, w, h = (min(1.0, max(0.0, float(v))) for v in box)
            findings.append(
                {
                    "panel": str(item.get("panel", "")),
                    "box": [x, y, min(w, 1.0 - x), min(h, 1.0 - y)],
                    "reason": str(item.get("reason", "")),
                }
            )
        return findings
