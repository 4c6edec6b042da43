"""The offline generator: deterministic pictures drawn with Pillow, no account needed.

It lets a team try the whole workflow before any provider key is set. Every picture is a
stylised preview (never mistaken for a real render: it carries an "offline preview" label).
Everything offline lives here and in offline_portrait / offline_sheet: who to draw is read from
the prompt our prompt builders write, and what was drawn where travels inside the pictures
themselves (offline_portrait.RECORD_KEY), so services never hand it offline-only data.
"""

from __future__ import annotations

import io
from decimal import Decimal

from PIL import Image, ImageDraw

from . import offline_sheet
from .base import GeneratedAsset, GenerationRequest, GenerationResult, GeneratorError, ShotSpec
from .offline_portrait import (
    ACCESSORY_WORDS,
    MAX_SIDE,
    OFFLINE_LABEL,
    FaceTraits,
    _font,
    draw_portrait,
    encode_png,
    read_record,
    subject_from_prompt,
    traits_from,
)

# Callers (the fake provider server, tests) draw with the same functions the generator uses.
__all__ = [
    "ACCESSORY_WORDS",
    "OFFLINE_LABEL",
    "FaceTraits",
    "OfflineGenerator",
    "draw_portrait",
    "encode_png",
    "read_record",
    "traits_from",
]


def _clamp_size(width: int | None, height: int | None, default: tuple[int, int]) -> tuple[int, int]:
    w, h = width or default[0], height or default[1]
    if w < 16 or h < 16:
        raise GeneratorError("The requested image size is too small.", permanent=True)
    scale = min(1.0, MAX_SIDE / max(w, h))
    return int(w * scale), int(h * scale)


class OfflineGenerator:
    name = "offline"

    def model_for(self, stage: str) -> str:
        return f"offline-{stage}"

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal(0)

    def close(self) -> None:
        pass

    def generate(self, request: GenerationRequest) -> GenerationResult:
        handler = getattr(self, f"_{request.stage}", None)
        if handler is None:
            raise GeneratorError(
                f"The offline generator cannot make the {request.stage} stage yet.", permanent=True
            )
        assets, extra = handler(request)
        return GenerationResult(
            assets=assets,
            provider=self.name,
            model=self.model_for(request.stage),
            cost_usd=Decimal(0),
            provider_request_id=f"offline-{request.stage}-{request.seed or 0}",
            data=extra.get("data", {}),
            text=extra.get("text", ""),
            metadata={"offline": True, **extra.get("metadata", {})},
        )

    def _casting(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        width, height = _clamp_size(request.width, request.height, (896, 1216))
        subject = subject_from_prompt(request.prompt)
        seed = request.seed or 0
        traits = traits_from(subject, seed)
        img, items = draw_portrait(traits, width, height)
        meta = {"traits": traits.as_dict(), "items": items, "label": OFFLINE_LABEL}
        png = encode_png(img, {"subject": subject, "seed": seed})
        return [GeneratedAsset(png, "image/png", width, height, meta)], {"metadata": meta}

    def _upscale(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        if not request.references:
            raise GeneratorError("The upscale needs the approved portrait.", permanent=True)
        source = request.references[0].data
        with Image.open(io.BytesIO(source)) as src:
            src = src.convert("RGB")
            target = min(MAX_SIDE, request.width or MAX_SIDE)
            scale = target / max(src.size)
            size = (round(src.width * scale), round(src.height * scale))
            img = src.resize(size, Image.Resampling.LANCZOS)
        meta = {"method": "lanczos", "source_size": list(src.size)}
        png = encode_png(img, read_record(source) or None)  # still the same person
        return [GeneratedAsset(png, "image/png", img.width, img.height, meta)], {"metadata": meta}

    def _sheet(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        return offline_sheet.make_sheet(request)

    def _edit(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        return offline_sheet.make_edit(request)

    def _inspect(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        return offline_sheet.make_inspection(request)

    def _shot(self, request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
        """A short animated preview (WebP) that walks through the reference panels."""
        if not request.references:
            raise GeneratorError("A shot needs the locked references.", permanent=True)
        spec = request.spec if isinstance(request.spec, ShotSpec) else ShotSpec(number=0)
        ratio = spec.ratio or request.aspect_ratio or "16:9"
        rw, rh = (int(v) for v in ratio.split(":")) if ":" in ratio else (16, 9)
        height = 360
        width = max(160, round(height * rw / rh))
        frames: list[Image.Image] = []
        font = _font(height // 22)
        for ref in request.references:
            with Image.open(io.BytesIO(ref.data)) as src:
                src = src.convert("RGB")
                src.thumbnail((width, height - height // 8), Image.Resampling.LANCZOS)
                base = Image.new("RGB", (width, height), (18, 18, 18))
                base.paste(
                    src, ((width - src.width) // 2, (height - height // 8 - src.height) // 2)
                )
            draw = ImageDraw.Draw(base)
            caption = f"{OFFLINE_LABEL} · shot {spec.number or ''} · {ref.label}"
            draw.text((10, height - height // 10), caption, font=font, fill=(240, 200, 80))
            frames.extend([base] * 3)
        buf = io.BytesIO()
        # The preview lasts as long as the shot asked for, so its timecodes mean the same thing.
        frame_ms = max(40, round(spec.duration * 1000 / len(frames))) if spec.duration else 200
        frames[0].save(
            buf,
            "WEBP",
            save_all=True,
            append_images=frames[1:],
            duration=frame_ms,
            loop=0,
            quality=70,
            method=2,
        )
        meta = {
            "frames": len(frames),
            "duration_s": spec.duration,
            "label": OFFLINE_LABEL,
            "references": [r.label for r in request.references],
        }
        return [GeneratedAsset(buf.getvalue(), "image/webp", width, height, meta)], {
            "metadata": meta
        }
