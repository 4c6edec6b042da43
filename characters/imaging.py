"""Pillow work: the one guarded decode path, derived sizes, and sheet → panels.

Every image that enters Turnaround (from a provider, an upload or the offline generator) passes
through `inspect_image` before it is stored. A bad image becomes an ImageRejected with a reason
a producer understands; it never reaches a page.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

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
    """Check that data is a whole PNG, JPEG or WebP within the pixel cap, without keeping it.

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
            with Image.open(io.BytesIO(data)) as img:
                img.load()
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
    return ImageInfo(ALLOWED_FORMATS[fmt], width, height)


def open_trusted(data: bytes) -> Image.Image:
    """Open bytes that already passed inspect_image (stored assets)."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def webp_bytes(img: Image.Image, *, quality: int = 82) -> bytes:
    buf = io.BytesIO()
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    img.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


def reduced(img: Image.Image, side: int) -> Image.Image:
    """A copy whose longer side is at most `side`, reduced before resampling (fast, sharp)."""
    copy = img.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return copy


def derived_sizes(data: bytes) -> dict[str, bytes]:
    """WebP thumbnail and preview for a stored image, made in one decode."""
    img = open_trusted(data)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    preview = reduced(img, PREVIEW_SIDE)
    thumb = reduced(preview, THUMBNAIL_SIDE)
    return {"preview": webp_bytes(preview), "thumbnail": webp_bytes(thumb)}
