"""Pillow work: the one guarded decode path, derived sizes, and sheet → panels.

Long because splitting a sheet and recomposing a fixed panel (fit by aspect, never stretched)
share the decode, box and background helpers here.

Every image that enters Turnaround (from a provider, an upload or the offline generator) passes
through `inspect_image` before it is stored. A bad image becomes an ImageRejected with a reason
a producer understands; it never reaches a page.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image, ImageChops, PngImagePlugin, UnidentifiedImageError

from .layouts import DEFAULT_PRESET, get_preset

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
    """A copy whose longer side is at most `side`, reduced before resampling (fast, sharp)."""
    copy = img.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return copy


def derived_sizes(img: Image.Image) -> dict[str, bytes]:
    """WebP thumbnail and preview of a decoded image (the preview is reduced once, and the
    thumbnail from the preview)."""
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    preview = reduced(img, PREVIEW_SIDE)
    thumb = reduced(preview, THUMBNAIL_SIDE)
    return {"preview": webp_bytes(preview), "thumbnail": webp_bytes(thumb)}


# --- Sheet -> panels ------------------------------------------------------------------------
#
# A sheet is decoded once. Panel boxes are found on a small copy by looking for gutters: rows
# and columns made only of the background colour (estimated from the sheet's outer edge). A
# recursive cut along those gutters gives the cells, whatever the grid; each cell's edges are
# then refined at full resolution, and cells are matched to the preset's panels by overlap.
# Where a panel has no convincing cell, its nominal box stands in, marked detected=False.

PANEL_PREVIEW_SIDE = 512
DETECT_SIDE = 1100  # longer side of the detection copy: gutters of ~0.5% still span 5+ pixels
BACKGROUND_TOLERANCE = 18  # largest channel difference from the background that is background
GUTTER_FILL = 3  # a row or column with at most 3/255 (~1%) non-background pixels is gutter
MATCH_IOU = 0.6  # how much a cell must overlap a nominal panel to be taken as that panel
MAX_CUT_DEPTH = 6

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


@dataclass(frozen=True)
class PanelBox:
    kind: str
    x: int
    y: int
    w: int
    h: int
    detected: bool  # False: the preset's nominal box, because detection found no cell for it
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


def _background(img: Image.Image) -> tuple[int, int, int]:
    """The sheet's background colour: the median of its outermost pixels (the margin)."""
    w, h = img.size
    ring = b"".join(
        img.crop(b).tobytes()
        for b in ((0, 0, w, 1), (0, h - 1, w, h), (0, 0, 1, h), (w - 1, 0, w, h))
    )
    channels = (sorted(ring[c::3]) for c in range(3))
    return tuple(ch[len(ch) // 2] for ch in channels)  # type: ignore[return-value]


def _foreground(img: Image.Image, bg: tuple[int, int, int]) -> Image.Image:
    """An L mask: 255 where a pixel is not background, 0 where it is."""
    diff = ImageChops.difference(img, Image.new("RGB", img.size, bg))
    r, g, b = diff.split()
    largest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    return largest.point(lambda v: 255 if v > BACKGROUND_TOLERANCE else 0)


def _profiles(mask: Image.Image) -> tuple[bytes, bytes]:
    """Per column and per row, the share of foreground pixels (0-255), by a box-filter resize."""
    w, h = mask.size
    return (
        mask.resize((w, 1), Image.Resampling.BOX).tobytes(),
        mask.resize((1, h), Image.Resampling.BOX).tobytes(),
    )


def _gaps(profile: bytes, lo: int, hi: int, min_gap: int) -> list[tuple[int, int]]:
    """Gutter runs strictly inside [lo, hi] at least min_gap long, as (start, end)."""
    runs, start = [], None
    for i in range(lo, hi + 1):
        if profile[i] <= GUTTER_FILL:
            start = i if start is None else start
        elif start is not None:
            if i - start >= min_gap:
                runs.append((start, i))
            start = None
    return runs


def _cells(
    mask: Image.Image, box: tuple[int, int, int, int], min_gap: int, min_size: int, depth: int = 0
) -> list[tuple[int, int, int, int]]:
    """Recursive cut along gutters: the content cells inside box (x0, y0, x1, y1)."""
    x0, y0, _, _ = box
    cols, rows = _profiles(mask.crop(box))
    fg_c = [i for i, v in enumerate(cols) if v > GUTTER_FILL]
    fg_r = [i for i, v in enumerate(rows) if v > GUTTER_FILL]
    if not fg_c or not fg_r:
        return []
    c_lo, c_hi, r_lo, r_hi = fg_c[0], fg_c[-1], fg_r[0], fg_r[-1]
    if depth < MAX_CUT_DEPTH:
        for gaps, vertical in (
            (_gaps(cols, c_lo, c_hi, min_gap), True),
            (_gaps(rows, r_lo, r_hi, min_gap), False),
        ):
            if not gaps:
                continue
            edges = [
                c_lo if vertical else r_lo,
                *(e for g in gaps for e in g),
                (c_hi if vertical else r_hi) + 1,
            ]
            out: list[tuple[int, int, int, int]] = []
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                piece = (
                    (x0 + a, y0 + r_lo, x0 + b, y0 + r_hi + 1)
                    if vertical
                    else (x0 + c_lo, y0 + a, x0 + c_hi + 1, y0 + b)
                )
                out.extend(_cells(mask, piece, min_gap, min_size, depth + 1))
            return out
    cell = (x0 + c_lo, y0 + r_lo, x0 + c_hi + 1, y0 + r_hi + 1)
    if cell[2] - cell[0] < min_size or cell[3] - cell[1] < min_size:
        return []  # a speck or a caption, not a panel
    return [cell]


def _refine(img: Image.Image, bg: tuple[int, int, int], cell: Box, slack: int) -> Box:
    """Snap a coarse box's edges to the first non-background pixels at full resolution."""
    x, y, w, h = cell
    W, H = img.size
    x0, y0, x1, y1 = x, y, x + w, y + h

    def first_fg(strip: Box, vertical: bool, from_end: bool) -> int | None:
        sx0, sy0, sx1, sy1 = strip
        sx0, sy0, sx1, sy1 = max(0, sx0), max(0, sy0), min(W, sx1), min(H, sy1)
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        cols, rows = _profiles(_foreground(img.crop((sx0, sy0, sx1, sy1)), bg))
        profile, origin = (cols, sx0) if vertical else (rows, sy0)
        hits = [i for i, v in enumerate(profile) if v > GUTTER_FILL]
        if not hits:
            return None
        return origin + (hits[-1] + 1 if from_end else hits[0])

    # Probe the middle half of each edge so a neighbour's corner never leaks in.
    qx, qy = w // 4, h // 4
    left = first_fg((x0 - slack, y0 + qy, x0 + slack, y1 - qy), True, False)
    right = first_fg((x1 - slack, y0 + qy, x1 + slack, y1 - qy), True, True)
    top = first_fg((x0 + qx, y0 - slack, x1 - qx, y0 + slack), False, False)
    bottom = first_fg((x0 + qx, y1 - slack, x1 - qx, y1 + slack), False, True)
    nx0, ny0 = left if left is not None else x0, top if top is not None else y0
    nx1, ny1 = right if right is not None else x1, bottom if bottom is not None else y1
    if nx1 - nx0 < w / 2 or ny1 - ny0 < h / 2:
        return cell  # refinement went astray; the coarse box is the better answer
    return (nx0, ny0, nx1 - nx0, ny1 - ny0)


def detect_cells(img: Image.Image) -> list[Box]:
    """Panel-like cells on a decoded sheet, in pixels, found along background gutters."""
    factor = max(1, math.ceil(max(img.size) / DETECT_SIDE))
    small = img.reduce(factor) if factor > 1 else img
    bg = _background(small)
    mask = _foreground(small, bg)
    sw, sh = small.size
    min_gap = max(1, round(max(sw, sh) * 0.002))
    min_size = max(4, round(min(sw, sh) * 0.04))
    sx, sy = img.width / sw, img.height / sh
    cells = []
    for cx0, cy0, cx1, cy1 in _cells(mask, (0, 0, sw, sh), min_gap, min_size):
        coarse = _clamp_box((cx0 * sx, cy0 * sy, (cx1 - cx0) * sx, (cy1 - cy0) * sy), img.size)
        cells.append(_refine(img, bg, coarse, factor + 2))
    return cells


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _union(boxes: list[Box]) -> Box:
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def nominal_boxes(preset: str, width: int, height: int) -> dict[str, Box]:
    """The preset's panels in pixels on a width x height sheet."""
    out = {}
    for spec in get_preset(preset).panels:
        fx, fy, fw, fh = spec.box
        x0, y0 = round(fx * width), round(fy * height)
        out[spec.kind] = (x0, y0, round((fx + fw) * width) - x0, round((fy + fh) * height) - y0)
    return out


def match_cells(cells: list[Box], nominal: dict[str, Box]) -> dict[str, Box]:
    """Pair cells with panels by overlap, greedily, best pairs first.

    Overlap is scored both as drawn and with the cells' outer frame stretched onto the preset's
    frame, so a sheet with wider margins or gutters than nominal still matches panel for panel.
    """
    if not cells:
        return {}
    uc, un = _union(cells), _union(list(nominal.values()))

    def framed(b: Box) -> Box:
        kx, ky = un[2] / uc[2], un[3] / uc[3]
        return (
            round(un[0] + (b[0] - uc[0]) * kx),
            round(un[1] + (b[1] - uc[1]) * ky),
            round(b[2] * kx),
            round(b[3] * ky),
        )

    scored = sorted(
        (
            (max(_iou(cell, box), _iou(framed(cell), box)), i, kind)
            for i, cell in enumerate(cells)
            for kind, box in nominal.items()
        ),
        reverse=True,
    )
    matched: dict[str, Box] = {}
    used: set[int] = set()
    for score, i, kind in scored:
        if score < MATCH_IOU:
            break
        if i in used or kind in matched:
            continue
        matched[kind] = cells[i]
        used.add(i)
    return matched


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
    """Find the preset's panels on a sheet and make their previews, decoding the sheet once.

    `source` is the sheet's bytes, or the image the guarded decode already loaded when the
    sheet was stored (so a new sheet is decoded once for storing, deriving and splitting)."""
    get_preset(preset)  # an unknown layout fails before any decoding
    img = _decode(source) if isinstance(source, bytes) else _as_rgb(source)
    nominal = nominal_boxes(preset, img.width, img.height)
    found = match_cells(detect_cells(img), nominal)
    panels = []
    for kind, box in nominal.items():
        box = found.get(kind, box)
        panels.append(
            PanelBox(
                kind, *box, detected=kind in found, preview=_preview(img, box) if previews else b""
            )
        )
    method = "detected" if len(found) == len(nominal) else "partial" if found else "nominal"
    return SplitResult(preset, img.width, img.height, method, tuple(panels))


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
            sheet.paste(Image.new("RGB", (w, h), _background(sheet)), (x, y))
    sheet.paste(panel, placed[:2])
    buf = io.BytesIO()
    sheet.save(buf, "PNG", compress_level=3)
    return Recomposed(buf.getvalue(), placed, note)
