"""Pillow work: the one guarded decode path, derived sizes, and sheet → panels.

Long because splitting a sheet and recomposing a fixed panel (fit by aspect, never stretched)
share the decode, box and background helpers here.

Every image that enters Turnaround (from a provider, an upload or the offline generator) passes
through `inspect_image` before it is stored. A bad image becomes an ImageRejected with a reason
a producer understands; it never reaches a page.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from .layouts import DEFAULT_PRESET, get_preset
from .panels_detect import background, detect_panels

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
THUMBNAIL_SIDE = 480
PREVIEW_SIDE = 1600


class ImageRejected(Exception):
    """The bytes are not an image Turnaround will keep. The message is for people."""


@dataclass(frozen=True)
class ImageInfo:
    mime: str
    width: int
    height: int


def max_pixels() -> int:
    return int(getattr(settings, "TURNAROUND_MAX_IMAGE_PIXELS", 40_000_000))


def inspect_image(data: bytes, *, limit: int | None = None) -> ImageInfo:
    """Check that data is a whole PNG, JPEG or WebP within the pixel cap, without keeping it."""
    return decode_checked(data, limit=limit)[0]


def decode_checked(data: bytes, *, limit: int | None = None) -> tuple[ImageInfo, Image.Image]:
    """The guarded decode: the checks of inspect_image, and the image its full load produced,
    so a caller that goes on to use the pixels (derived sizes) does not decode them again.

    Pillow's DecompressionBombWarning is raised as an error here: an image over the cap is
    refused before any pixels are decoded, and a truncated file fails `verify()` or `load()`.
    """
    limit = limit or max_pixels()
    if not data:
        raise ImageRejected("The provider sent an empty file instead of an image.")
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"{", b"[")):
        raise ImageRejected("The provider sent a web page or text instead of an image.")
    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = limit
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageRejected(
                        f"The provider sent a {fmt or 'unknown'} file; Turnaround keeps PNG, JPEG or WebP."
                    )
                if width * height > limit:
                    raise ImageRejected(
                        f"The image is {width}×{height}, more pixels than Turnaround accepts ({limit:,})."
                    )
                img.verify()
            # verify() checks structure; a full load catches truncated pixel data too.
            loaded = Image.open(io.BytesIO(data))
            loaded.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            "The image is far larger than it should be (a decompression bomb); it was not kept."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("The file is not an image Turnaround can read.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("The image is damaged or cut short; it was not kept.") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return ImageInfo(ALLOWED_FORMATS[fmt], width, height), loaded


def open_trusted(data: bytes) -> Image.Image:
    """Open bytes that already passed inspect_image (stored assets)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def webp_bytes(img: Image.Image, *, quality: int = 82, method: int = 4) -> bytes:
    buf = io.BytesIO()
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    img.save(buf, "WEBP", quality=quality, method=method)
    return buf.getvalue()


def reduced(img: Image.Image, side: int) -> Image.Image:
    """A copy whose longer side is at most `side`, reduced before resampling (fast, sharp).
    Resized straight from the source: no full-size copy first (a 4K sheet's is 50 MB)."""
    scale = side / max(img.size)
    if scale >= 1:
        return img.copy()
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def derived_sizes(img: Image.Image) -> dict[str, bytes]:
    """WebP thumbnail and preview of a decoded image (the preview is reduced once, and the
    thumbnail from the preview).

    WebP method 2, like the panel previews: every picture a generation keeps is derived
    before its card can show, and method 4 took 2.5x as long for 4-6% fewer bytes (a 1600-
    pixel photograph: 142 against 56 ms of CPU, 119 against 124 KB)."""
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    preview = reduced(img, PREVIEW_SIDE)
    thumb = reduced(preview, THUMBNAIL_SIDE)
    return {"preview": webp_bytes(preview, method=2), "thumbnail": webp_bytes(thumb, method=2)}


# --- Sheet -> panels ------------------------------------------------------------------------
#
# A sheet is decoded once. characters/panels_detect.py finds its panel regions whatever their
# arrangement and names them (full-body angles, face and mid close-ups), each with a
# confidence; where a panel has no region, the preset's nominal box stands in, marked
# detected=False. Previews are made from the same decoded image.

PANEL_PREVIEW_SIDE = 512

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


@dataclass(frozen=True)
class PanelBox:
    kind: str
    x: int
    y: int
    w: int
    h: int
    detected: bool  # False: the preset's nominal box, because detection found no region for it
    confidence: float = 1.0  # 0-1: how cleanly the region stood apart and how clear its kind was
    preview: bytes = field(default=b"", repr=False)  # WebP, longer side PANEL_PREVIEW_SIDE

    @property
    def box(self) -> Box:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class SplitResult:
    preset: str
    width: int
    height: int
    method: str  # "detected" (every panel), "partial" or "nominal" (none)
    panels: tuple[PanelBox, ...]
    review: bool = False  # a person should check this split
    reasons: tuple[str, ...] = ()
    edges: tuple[Box, ...] = ()  # every region found, for snapping a corrected box

    def panel(self, kind: str) -> PanelBox:
        for panel in self.panels:
            if panel.kind == kind:
                return panel
        raise KeyError(kind)


def _decode(data: bytes) -> Image.Image:
    """Decode stored image bytes once, within the pixel cap, as RGB."""
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > max_pixels():
            raise ImageRejected(
                f"The image is {img.width} by {img.height}, more pixels than Turnaround accepts."
            )
        img.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("The file is not an image Turnaround can read.") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("The image is far larger than it should be; it was not read.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("The image is damaged or cut short.") from exc
    return img if img.mode == "RGB" else img.convert("RGB")


def _as_rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def _clamp_box(box: Box, size: tuple[int, int]) -> Box:
    x, y, w, h = (round(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(size[0], x + w), min(size[1], y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"The box {box} lies outside the {size[0]}x{size[1]} image.")
    return (x0, y0, x1 - x0, y1 - y0)


def _preview(img: Image.Image, box: Box) -> bytes:
    """A WebP preview of one region, reduced by a whole factor before the final resample.

    The reduce leaves at least 1.5x the target for LANCZOS (sharp enough at 512 px), and WebP
    method 2 encodes about a third faster than 4 for a few percent more bytes: previews are
    made for every panel inside the split, which should cost little more than the decode.
    """
    x, y, w, h = box
    factor = max(1, int(max(w, h) / (PANEL_PREVIEW_SIDE * 1.5)))
    region = (x, y, x + w, y + h)
    part = img.reduce(factor, box=region) if factor > 1 else img.crop(region)
    part.thumbnail((PANEL_PREVIEW_SIDE, PANEL_PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return webp_bytes(part, method=2)


def split_sheet(
    source: bytes | Image.Image, preset: str = DEFAULT_PRESET, *, previews: bool = True
) -> SplitResult:
    """Find and name the preset's panels on a sheet and make their previews, decoding it once.

    `source` is the sheet's bytes, or the image the guarded decode already loaded when the
    sheet was stored (so a new sheet is decoded once for storing, deriving and splitting)."""
    get_preset(preset)  # an unknown layout fails before any decoding
    img = _decode(source) if isinstance(source, bytes) else _as_rgb(source)
    found = detect_panels(img, preset)
    panels = tuple(
        PanelBox(
            p.kind,
            *p.box,
            detected=p.detected,
            confidence=p.confidence,
            preview=_preview(img, p.box) if previews else b"",
        )
        for p in found.panels
    )
    return SplitResult(
        preset,
        img.width,
        img.height,
        found.method,
        panels,
        review=found.review,
        reasons=found.reasons,
        edges=tuple(r.box for r in found.regions),
    )


def crop_panel(data: bytes, box: Box) -> bytes:
    """The full-resolution crop of one panel as PNG (cut when first needed, then kept)."""
    img = _decode(data)
    x, y, w, h = _clamp_box(box, img.size)
    buf = io.BytesIO()
    img.crop((x, y, x + w, y + h)).save(buf, "PNG", compress_level=3, pnginfo=_text_chunks(img))
    return buf.getvalue()


def _text_chunks(img: Image.Image) -> PngImagePlugin.PngInfo | None:
    """The source's PNG text chunks (what made the picture), kept on a piece cut from it."""
    texts = {k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str)}
    if not texts:
        return None
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return info


def small_jpeg(data: bytes, side: int = 1024) -> bytes:
    """A small JPEG of a stored picture, for a vision model that sees it at a fixed size."""
    img = _decode(data)
    small = reduced(img, side)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def make_panel_preview(data: bytes, box: Box) -> bytes:
    """The WebP preview of one panel, for when a reviewer corrects its box."""
    img = _decode(data)
    return _preview(img, _clamp_box(box, img.size))


@dataclass(frozen=True)
class Recomposed:
    data: bytes  # the sheet, PNG
    placed: Box  # where the answer went, inside the panel's box
    note: str  # set when the answer's aspect differed from the box's: what was done


# Aspects closer than this (0.5%) count as the same: rounding to whole pixels differs by less.
ASPECT_TOLERANCE = 0.005


def recompose_sheet(sheet_bytes: bytes, box: Box, panel_bytes: bytes) -> Recomposed:
    """The sheet with a fixed panel pasted back at its box, never stretched.

    An answer of another size is scaled to fit the box keeping its own aspect and centred;
    the strips it leaves are filled with the sheet's background. The note says so, with both
    shapes, so the revision can tell the team.
    """
    sheet = _decode(sheet_bytes)
    x, y, w, h = _clamp_box(box, sheet.size)
    panel = _decode(panel_bytes)
    pw, ph = panel.size
    note = ""
    placed: Box = (x, y, w, h)
    if (pw, ph) != (w, h):
        scale = min(w / pw, h / ph)
        fw, fh = max(1, min(w, round(pw * scale))), max(1, min(h, round(ph * scale)))
        if abs((pw / ph) / (w / h) - 1) > ASPECT_TOLERANCE:
            note = (
                f"The answer came back {pw}×{ph}, another shape than the {w}×{h} panel; it was "
                f"fitted at {fw}×{fh} without stretching, with the sheet's background around it."
            )
        else:
            fw, fh = w, h
        panel = panel.resize((fw, fh), Image.Resampling.LANCZOS, reducing_gap=2.0)
        placed = (x + (w - fw) // 2, y + (h - fh) // 2, fw, fh)
        if (fw, fh) != (w, h):
            sheet.paste(Image.new("RGB", (w, h), background(sheet)[0]), (x, y))
    sheet.paste(panel, placed[:2])
    buf = io.BytesIO()
    sheet.save(buf, "PNG", compress_level=3)
    return Recomposed(buf.getvalue(), placed, note)
