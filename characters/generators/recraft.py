"""Recraft: photoreal casting portraits and the crisp 4K upscale of the approved one.

Wire format: ../shared/providers/recraft.md. Generation answers with a signed URL that lives
about a day, so the image is downloaded at once, through the transport's guarded download.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from .base import (
    GeneratedAsset,
    GenerationRequest,
    GenerationResult,
    GeneratorError,
    ModelStatus,
    reported_number,
)
from .http import ProviderTransport, checked_image, transport_from_settings

DOWNLOAD_HOSTS = ("img.recraft.ai", "*.recraft.ai")
# *unsure*: the docs now show display names ("Studio photo"); the API took the id. One place.
V3_PHOTO_STYLE = "realistic_image"
V3_PHOTO_SUBSTYLE = "studio_portrait"
# *unsure*: the docs name the multipart part "file"; the official generated client sends "image".
UPSCALE_FILE_FIELD = "file"
# Portrait (3:4) sizes from each model's table; models not listed get the ratio itself.
PORTRAIT_SIZES = {
    "recraftv4_1": "896x1216",
    "recraftv4_1_pro": "1792x2432",
    "recraftv3": "1024x1365",
}
PORTRAIT_RATIO = "3:4"
UPSCALE_MAX_BYTES = 10 * 1024 * 1024
UPSCALE_MAX_PIXELS = 16_000_000
UPSCALE_SIDES = (32, 4096)


def is_v3_or_older(model: str) -> bool:
    return model.startswith(("recraftv3", "recraftv2"))


def prompt_limit(model: str) -> int:
    return 1_000 if is_v3_or_older(model) else 10_000


# Current raster models (2026-12); `providers --check` names a configured id not listed here.
KNOWN_MODELS = frozenset(
    {"recraftv4_1", "recraftv4_1_pro", "recraftv4", "recraftv4_pro", "recraftv3", "recraftv2"}
)
RETIRED_MODELS: dict[str, str] = {}  # none announced


class RecraftGenerator:
    name = "recraft"
    display = "Recraft"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        **transport_options: Any,
    ) -> None:
        self.model = model or settings.RECRAFT_MODEL
        key = api_key if api_key is not None else settings.RECRAFT_API_KEY
        self.http: ProviderTransport = transport_from_settings(
            provider=self.display,
            base_url=base_url or settings.RECRAFT_API_BASE,
            auth_headers={"Authorization": f"Bearer {key}"},
            download_hosts=DOWNLOAD_HOSTS,
            **transport_options,
        )

    def __repr__(self) -> str:
        return f"RecraftGenerator(model={self.model!r})"

    def model_for(self, stage: str) -> str:
        return "crispUpscale" if stage == "upscale" else self.model

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        prices = settings.TURNAROUND_PRICES
        if request.stage == "upscale":
            return prices["recraft_crisp_upscale"]
        return prices["recraft_generation_estimate"]

    def close(self) -> None:
        self.http.close()

    def generate(self, request: GenerationRequest) -> GenerationResult:
        if request.stage == "casting":
            return self._casting(request)
        if request.stage == "upscale":
            return self._upscale(request)
        raise GeneratorError(f"Recraft does not serve the {request.stage} stage.", permanent=True)

    def check_models(self) -> list[ModelStatus]:
        """No model lookup exists here: the configured id against the ids Turnaround knows."""
        model = self.model
        if model in RETIRED_MODELS:
            return [ModelStatus("RECRAFT_MODEL", model, "retired", RETIRED_MODELS[model])]
        if model not in KNOWN_MODELS:
            return [
                ModelStatus(
                    "RECRAFT_MODEL",
                    model,
                    "unknown",
                    "not a model Turnaround knows for Recraft; known: "
                    + ", ".join(sorted(KNOWN_MODELS)),
                )
            ]
        return [ModelStatus("RECRAFT_MODEL", model, "ok")]

    def check(self) -> str:
        """One cheap authenticated call; returns a short description or raises GeneratorError."""
        payload = self.http.request("GET", "/users/me").json()
        credits = payload.get("credits") if isinstance(payload, dict) else None
        return f"authenticated; {credits} credits left" if credits is not None else "authenticated"

    # --- casting --------------------------------------------------------------------------

    def casting_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact JSON sent for a casting portrait."""
        if not request.prompt.strip():
            raise GeneratorError("The casting prompt is empty.", permanent=True)
        limit = prompt_limit(self.model)
        if len(request.prompt) > limit:
            raise GeneratorError(
                f"The casting prompt is {len(request.prompt):,} characters; {self.model} "
                f"accepts at most {limit:,}.",
                permanent=True,
            )
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "model": self.model,
            "n": 1,
            "size": PORTRAIT_SIZES.get(self.model, PORTRAIT_RATIO),
            "response_format": "url",
        }
        if request.seed is not None:
            if not 0 <= request.seed <= 0xFFFFFFFF:
                raise GeneratorError(
                    "Recraft seeds are whole numbers from 0 to 4294967295.", permanent=True
                )
            body["random_seed"] = request.seed
        if is_v3_or_older(self.model):
            # V4 models reject style/substyle; only the older ones need them for photoreal.
            body["style"] = V3_PHOTO_STYLE
            body["substyle"] = V3_PHOTO_SUBSTYLE
        return body

    def _casting(self, request: GenerationRequest) -> GenerationResult:
        body = self.casting_body(request)
        response = self.http.request("POST", "/images/generations", json_body=body, paid=True)
        payload = response.json()
        try:
            item = payload["data"][0]
            url = item["url"]
        except (KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(
                "Recraft answered without an image URL.",
                permanent=False,
                attempts=response.attempts,
                charged=True,
            ) from exc
        download = self.http.download(url, kind="image")
        meta = {"image_id": item.get("image_id", ""), "size": body["size"]}
        if "substyle" in body:
            meta["substyle"] = body["substyle"]
        return GenerationResult(
            assets=[
                GeneratedAsset(download.data, download.mime, download.width, download.height, meta)
            ],
            provider=self.name,
            model=self.model,
            cost_usd=self._cost(payload, fallback=self.estimate_cost(request)),
            provider_request_id=str(item.get("image_id", "")),
            metadata={"credits": payload.get("credits"), "created": payload.get("created")},
            attempts=response.attempts,
        )

    # --- upscale --------------------------------------------------------------------------

    def _upscale(self, request: GenerationRequest) -> GenerationResult:
        if not request.references:
            raise GeneratorError("The upscale needs the approved portrait.", permanent=True)
        ref = request.references[0]
        self._check_upscale_input(ref.data)
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(ref.mime, "png")
        response = self.http.request(
            "POST",
            "/images/crispUpscale",
            files={UPSCALE_FILE_FIELD: (f"portrait.{ext}", ref.data, ref.mime)},
            data={"response_format": "url"},
            paid=True,
        )
        payload = response.json()
        try:
            image = payload["image"]
            url = image["url"]
        except (KeyError, TypeError) as exc:
            raise GeneratorError(
                "Recraft's upscale answered without an image URL.",
                permanent=False,
                attempts=response.attempts,
                charged=True,
            ) from exc
        download = self.http.download(url, kind="image")
        meta = {"image_id": image.get("image_id", ""), "method": "crispUpscale"}
        return GenerationResult(
            assets=[
                GeneratedAsset(download.data, download.mime, download.width, download.height, meta)
            ],
            provider=self.name,
            model=self.model_for("upscale"),
            cost_usd=self._cost(
                payload, fallback=settings.TURNAROUND_PRICES["recraft_crisp_upscale"]
            ),
            provider_request_id=str(image.get("image_id", "")),
            metadata={"credits": payload.get("credits")},
            attempts=response.attempts,
        )

    def _check_upscale_input(self, data: bytes) -> None:
        """Recraft's documented input limits, checked before paying for a refusal."""
        if len(data) >= UPSCALE_MAX_BYTES:
            raise GeneratorError(
                "The portrait is over 10 MB; Recraft's upscale accepts smaller files.",
                permanent=True,
            )
        _, width, height = checked_image(data, "The portrait to upscale")
        low, high = UPSCALE_SIDES
        if (
            not (low <= width <= high and low <= height <= high)
            or width * height > UPSCALE_MAX_PIXELS
        ):
            raise GeneratorError(
                f"The portrait is {width}x{height}; Recraft's upscale takes sides of {low}-{high} "
                "px and at most 16 megapixels.",
                permanent=True,
            )

    @staticmethod
    def _cost(payload: dict[str, Any], *, fallback: Decimal) -> Decimal:
        credits = reported_number(payload.get("credits") if isinstance(payload, dict) else None)
        if credits is not None:
            return credits * settings.TURNAROUND_PRICES["recraft_usd_per_unit"]
        return fallback
