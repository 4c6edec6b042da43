"""Panels on a turnaround sheet, found without assuming the preset's geometry, and named.

Long because finding regions, naming them and saying how sure each is form one reading of
the sheet, whose fallbacks (strips, pieces, touching panels) only make sense side by side.

Image models do not draw a preset's exact boxes: panels come three by two, four on top and two
wide below, close-ups on the left, under a title strip, or as figures on one continuous
background with no gutters at all. So detection works in two steps, on a reduced copy of the
decoded sheet (region edges are then refined at full resolution):

1. Regions. The background is the colour of the sheet's outer ring; everything that differs
   from it is foreground. A recursive cut along empty rows and columns (gutters, margins, the
   empty space between figures on a shared background) gives candidate cells; strips much
   wider than tall (titles, captions) and specks are dropped. While fewer cells than panels
   remain, the largest is split along a straight colour edge (tinted panels that touch) or
   along its emptiest column or row (figures that almost touch).
2. Kinds. Full-body views are tall and their face is a small part of their height (the head
   is an eighth of a standing figure); close-ups are squarer and the face spans a third (chest
   up) or most (face close-up) of them. Full-body views take the preset's angles in reading
   order (rows top to bottom, then left to right: front, three-quarter, profile, back), and the
   view with no face showing should be the back.

Every panel gets a confidence (0-1) from how cleanly its region stood apart and how clear its
kind was; a split with any panel under REVIEW_BELOW is flagged for a person to check, with the
reasons in words. Nothing here touches the database or a provider.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageChops

from .layouts import get_preset

Box = tuple[int, int, int, int]  # x, y, w, h in pixels
Cell = tuple[int, int, int, int]  # x0, y0, x1, y1 on the reduced copy

DETECT_SIDE = 1100  # longer side of the detection copy: gutters of ~0.5% still span 5+ pixels
BACKGROUND_TOLERANCE = 18  # least channel difference from the background that is foreground
MAX_TOLERANCE = 48  # textured or shaded backgrounds widen the tolerance up to this
GUTTER_FILL = 3  # a row or column with at most 3/255 (~1%) foreground pixels is empty
MAX_CUT_DEPTH = 6
EDGE_STEP = 12  # a colour step this large between neighbouring pixels is an edge
EDGE_SHARE = 0.8  # a straight panel edge runs along at least this share of the cell
VALLEY_SHARE = 0.25  # a split between figures is at most this full relative to the cell
REVIEW_BELOW = 0.6  # a panel less certain than this sends the split to review
# Region confidence by what separated it from its neighbours.
SEPARATION_CONFIDENCE = {"gutter": 0.95, "edge": 0.8, "merged": 0.75, "valley": 0.65}
HEAD_WEIGHT = 3.0  # in the full-body score: log(height / width) - HEAD_WEIGHT * head share


@dataclass(frozen=True)
class Region:
    """One panel-like region on the sheet."""

    box: Box  # full-resolution pixels
    how: str  # what separated it: "gutter", "edge", "valley", or "merged" (pieces joined)
    skin: float  # share of its pixels that are skin-coloured foreground (0-1)
    head: float  # height of its topmost patch of skin (the face) over its own height (0-1)

    @property
    def aspect(self) -> float:
        return self.box[3] / max(1, self.box[2])

    @property
    def full_body_score(self) -> float:
        """High for a tall panel whose face is a small part of its height (head to toe: the
        head is an eighth of the figure; chest up about a third; a face close-up most of it)."""
        return math.log(max(self.aspect, 1e-3)) - HEAD_WEIGHT * self.head


@dataclass(frozen=True)
class FoundPanel:
    kind: str
    box: Box
    detected: bool  # False: the preset's nominal box, because no region was found for it
    confidence: float  # 0-1


@dataclass(frozen=True)
class Detection:
    method: str  # "detected" (every panel), "partial" or "nominal" (none)
    panels: tuple[FoundPanel, ...]  # in the preset's order
    review: bool  # a person should check this split
    reasons: tuple[str, ...]  # why, in the product's words
    regions: tuple[Region, ...] = ()  # every region found, for snapping a corrected box

    def panel(self, kind: str) -> FoundPanel:
        for panel in self.panels:
            if panel.kind == kind:
                return panel
        raise KeyError(kind)


# --- geometry helpers ------------------------------------------------------------------------


def nominal_boxes(preset: str, width: int, height: int) -> dict[str, Box]:
    """The preset's panels in pixels on a width x height sheet."""
    out = {}
    for spec in get_preset(preset).panels:
        fx, fy, fw, fh = spec.box
        x0, y0 = round(fx * width), round(fy * height)
        out[spec.kind] = (x0, y0, round((fx + fw) * width) - x0, round((fy + fh) * height) - y0)
    return out


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def reading_order(boxes: list[Box]) -> list[int]:
    """Indexes of boxes in reading order: rows top to bottom, left to right within a row.

    A box joins a row when its vertical centre falls inside the row's first box.
    """
    by_top = sorted(range(len(boxes)), key=lambda i: (boxes[i][1] + boxes[i][3] / 2, boxes[i][0]))
    rows: list[list[int]] = []
    for i in by_top:
        centre = boxes[i][1] + boxes[i][3] / 2
        for row in rows:
            first = boxes[row[0]]
            if first[1] <= centre <= first[1] + first[3]:
                row.append(i)
                break
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda j: boxes[j][0])]


# --- masks -----------------------------------------------------------------------------------


def _ring(img: Image.Image) -> bytes:
    w, h = img.size
    return b"".join(
        img.crop(b).tobytes()
        for b in ((0, 0, w, 1), (0, h - 1, w, h), (0, 0, 1, h), (w - 1, 0, w, h))
    )


def background(img: Image.Image) -> tuple[tuple[int, int, int], int]:
    """The sheet's background colour (median of its outermost pixels) and the tolerance that
    separates it from content: wider when the margin itself is textured or shaded."""
    ring = _ring(img)
    bg = tuple(sorted(ring[c::3])[len(ring) // 6] for c in range(3))
    devs = sorted(
        max(abs(ring[i] - bg[0]), abs(ring[i + 1] - bg[1]), abs(ring[i + 2] - bg[2]))
        for i in range(0, len(ring), 3)
    )
    spread = devs[int(len(devs) * 0.6)]
    return bg, min(MAX_TOLERANCE, max(BACKGROUND_TOLERANCE, spread + 10))  # type: ignore[return-value]


def _max_channel(diff: Image.Image) -> Image.Image:
    r, g, b = diff.split()
    return ImageChops.lighter(ImageChops.lighter(r, g), b)


def foreground(img: Image.Image, bg: tuple[int, int, int], tolerance: int) -> Image.Image:
    """An L mask: 255 where a pixel is not background, 0 where it is."""
    diff = ImageChops.difference(img, Image.new("RGB", img.size, bg))
    return _max_channel(diff).point(lambda v: 255 if v > tolerance else 0)


def skin_mask(img: Image.Image, fg: Image.Image) -> Image.Image:
    """Skin-coloured foreground (the usual YCbCr box) at half the size of img, kept only where
    most of each 2x2 block is skin, so speckle and texture drop out: a face or a hand is a
    patch of skin, noise is not."""
    _, cb, cr = img.convert("YCbCr").split()
    skin = ImageChops.multiply(
        cb.point(lambda v: 255 if 77 <= v <= 127 else 0),
        cr.point(lambda v: 255 if 135 <= v <= 168 else 0),
    )
    skin = ImageChops.multiply(skin, fg)
    return skin.reduce(2).point(lambda v: 255 if v >= 160 else 0)


def _profiles(mask: Image.Image) -> tuple[bytes, bytes]:
    """Per column and per row, the share of foreground pixels (0-255), by a box-filter resize."""
    w, h = mask.size
    return (
        mask.resize((w, 1), Image.Resampling.BOX).tobytes(),
        mask.resize((1, h), Image.Resampling.BOX).tobytes(),
    )


def head_share(skin: Image.Image) -> float:
    """How much of a region's height its topmost patch of skin spans: the face (with the neck)
    of a figure seen from the front, side or three-quarters; hands when seen from behind."""
    _, rows = _profiles(skin)
    h = len(rows)
    allowed_gap = max(1, h // 50)  # eyes, a fringe or a shadow may cross the face
    start = end = None
    gap = 0
    for i, v in enumerate(rows):
        if v > GUTTER_FILL:
            if start is None:
                start = i
            end, gap = i, 0
        elif start is not None:
            gap += 1
            if gap > allowed_gap:
                break
    if start is None or end is None or end - start < 2:
        return 0.0
    return (end - start + 1) / h


def _mean(img: Image.Image) -> float:
    """Mean value of an L image, 0-1."""
    return img.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)) / 255  # type: ignore[operator]


# --- step 1: regions -------------------------------------------------------------------------


def _line_image(mask: Image.Image, other: bytes, vertical: bool) -> Image.Image | None:
    """The mask kept only on lines that cross most of it (rows for column gaps, columns for
    row gaps). A drawn border's top and bottom edges are such lines: a column they cross is
    inside a panel, never a gutter, however empty the rest of it is."""
    flags = bytes(255 if v >= 128 else 0 for v in other)
    if not any(flags):
        return None
    w, h = mask.size
    indicator = (
        Image.frombytes("L", (1, h), flags) if vertical else Image.frombytes("L", (w, 1), flags)
    ).resize((w, h), Image.Resampling.NEAREST)
    return ImageChops.multiply(mask, indicator)


def _gaps(
    profile: bytes, lo: int, hi: int, min_gap: int, lines: Image.Image | None = None, vertical=True
) -> list[tuple[int, int]]:
    """Empty runs strictly inside [lo, hi] at least min_gap long, as (start, end)."""
    runs, start = [], None

    def crossed(i: int) -> bool:
        if lines is None:
            return False
        w, h = lines.size
        strip = (i, 0, i + 1, h) if vertical else (0, i, w, i + 1)
        return lines.crop(strip).getbbox() is not None

    for i in range(lo, hi + 1):
        if profile[i] <= GUTTER_FILL and not crossed(i):
            start = i if start is None else start
        elif start is not None:
            if i - start >= min_gap:
                runs.append((start, i))
            start = None
    return runs


def _cells(mask: Image.Image, box: Cell, min_gap: int, depth: int = 0) -> list[Cell]:
    """Recursive cut along empty rows and columns: the content cells inside box."""
    x0, y0, _, _ = box
    crop = mask.crop(box)
    cols, rows = _profiles(crop)
    fg_c = [i for i, v in enumerate(cols) if v > GUTTER_FILL]
    fg_r = [i for i, v in enumerate(rows) if v > GUTTER_FILL]
    if not fg_c or not fg_r:
        return []
    c_lo, c_hi, r_lo, r_hi = fg_c[0], fg_c[-1], fg_r[0], fg_r[-1]
    if depth < MAX_CUT_DEPTH:
        for gaps, vertical in (
            (_gaps(cols, c_lo, c_hi, min_gap, _line_image(crop, rows, True), True), True),
            (_gaps(rows, r_lo, r_hi, min_gap, _line_image(crop, cols, False), False), False),
        ):
            if not gaps:
                continue
            edges = [
                c_lo if vertical else r_lo,
                *(e for g in gaps for e in g),
                (c_hi if vertical else r_hi) + 1,
            ]
            out: list[Cell] = []
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                piece = (
                    (x0 + a, y0 + r_lo, x0 + b, y0 + r_hi + 1)
                    if vertical
                    else (x0 + c_lo, y0 + a, x0 + c_hi + 1, y0 + b)
                )
                out.extend(_cells(mask, piece, min_gap, depth + 1))
            return out
    return [(x0 + c_lo, y0 + r_lo, x0 + c_hi + 1, y0 + r_hi + 1)]


def _area(c: Cell) -> int:
    return (c[2] - c[0]) * (c[3] - c[1])


def _panel_like(cells: list[Cell], count: int) -> list[Cell]:
    """Drop title and caption strips (much wider than tall, and low) and specks."""
    if not cells:
        return []
    top = min(c[1] for c in cells)
    content_h = max(c[3] for c in cells) - top
    cells = [
        c
        for c in cells
        if not ((c[3] - c[1]) < 0.15 * content_h and (c[2] - c[0]) > 3 * (c[3] - c[1]))
    ]
    if not cells:
        return []
    areas = sorted((_area(c) for c in cells), reverse=True)[:count]
    reference = areas[len(areas) // 2]
    return [c for c in cells if _area(c) >= 0.15 * reference and min(c[2] - c[0], c[3] - c[1]) > 3]


def _edge_split(small: Image.Image, cell: Cell, vertical: bool) -> tuple[int, float] | None:
    """The strongest straight colour edge across the cell (tinted panels that touch)."""
    part = small.crop(cell)
    if not vertical:
        part = part.transpose(Image.Transpose.TRANSPOSE)
    w, h = part.size
    if w < 8:
        return None
    # Across two pixels: on the reduced copy an edge may be blended over one in-between pixel.
    step = _max_channel(
        ImageChops.difference(part.crop((0, 0, w - 2, h)), part.crop((2, 0, w, h)))
    ).point(lambda v: 255 if v > EDGE_STEP else 0)
    profile = step.resize((w - 2, 1), Image.Resampling.BOX).tobytes()
    lo, hi = int(w * 0.12), int(w * 0.88)
    best = max(range(lo, hi), key=lambda i: (profile[i], -abs(i - w / 2)), default=None)
    if best is None or profile[best] < EDGE_SHARE * 255:
        return None
    # A panel edge stands out from the cell; in texture or noise every column is an "edge".
    typical = sorted(profile[lo:hi])[(hi - lo) // 2]
    if typical > 0.4 * 255:
        return None
    return best + 1, profile[best] / 255


def _valley_split(mask: Image.Image, cell: Cell, vertical: bool) -> tuple[int, float] | None:
    """The emptiest column (or row) well inside the cell, if clearly emptier than the cell."""
    part = mask.crop(cell)
    cols, rows = _profiles(part)
    profile = cols if vertical else rows
    n = len(profile)
    lo, hi = int(n * 0.15), int(n * 0.85)
    if hi <= lo:
        return None
    mean = sum(profile) / n
    best = min(range(lo, hi), key=lambda i: (profile[i], abs(i - n / 2)))
    if mean <= 0 or profile[best] > VALLEY_SHARE * mean:
        return None
    return best, 1 - profile[best] / mean


def _split(small: Image.Image, mask: Image.Image, cell: Cell) -> tuple[list[Cell], str] | None:
    """Split a cell that holds more than one panel: by edge first, by valley second."""
    x0, y0, x1, y1 = cell
    # Try the axis along which the cell is longer first: two panels side by side make a wide cell.
    axes = (True, False) if (x1 - x0) >= (y1 - y0) * 0.6 else (False, True)
    for finder, how in ((_edge_split, "edge"), (_valley_split, "valley")):
        for vertical in axes:
            found = (
                finder(small, cell, vertical)
                if finder is _edge_split
                else finder(mask, cell, vertical)
            )
            if found is None:
                continue
            at = found[0]
            if vertical:
                parts = [(x0, y0, x0 + at, y1), (x0 + at, y0, x1, y1)]
            else:
                parts = [(x0, y0, x1, y0 + at), (x0, y0 + at, x1, y1)]
            if how == "valley":  # trim each side to its own content
                trimmed = []
                for p in parts:
                    bbox = mask.crop(p).getbbox()
                    if bbox:
                        trimmed.append(
                            (p[0] + bbox[0], p[1] + bbox[1], p[0] + bbox[2], p[1] + bbox[3])
                        )
                parts = trimmed
            # Both sides must still look like panels, not a sliver or a strip.
            if len(parts) == 2 and all(0.2 <= (p[3] - p[1]) / (p[2] - p[0]) <= 8 for p in parts):
                return parts, how
    return None


def _join_smallest(cells: list[Cell]) -> tuple[Cell, Cell, Cell] | None:
    smallest = min(cells, key=_area)
    x0, y0, x1, y1 = smallest
    best = None
    for other in cells:
        if other == smallest:
            continue
        ox0, oy0, ox1, oy1 = other
        across = min(x1, ox1) - max(x0, ox0)  # shared width (stacked pieces)
        down = min(y1, oy1) - max(y0, oy0)  # shared height (pieces side by side)
        lined_up = across >= 0.8 * min(x1 - x0, ox1 - ox0) or down >= 0.8 * min(y1 - y0, oy1 - oy0)
        if not lined_up:
            continue
        union = (min(x0, ox0), min(y0, oy0), max(x1, ox1), max(y1, oy1))
        if any(
            c not in (smallest, other)
            and min(union[2], c[2]) > max(union[0], c[0])
            and min(union[3], c[3]) > max(union[1], c[1])
            for c in cells
        ):
            continue
        added = _area(union) - _area(smallest) - _area(other)
        if added > 0.25 * _area(union):
            continue
        if best is None or added < best[0]:
            best = (added, other, union)
    return None if best is None else (smallest, best[1], best[2])


def _clamp(box: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    x, y, w, h = (round(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(size[0], x + w), min(size[1], y + h)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _refine(
    img: Image.Image, bg: tuple[int, int, int], tolerance: int, cell: Box, slack: int
) -> Box:
    """Snap a coarse box's edges to the first foreground pixels at full resolution."""
    x, y, w, h = cell
    W, H = img.size
    x0, y0, x1, y1 = x, y, x + w, y + h

    def first_fg(strip: Box, vertical: bool, from_end: bool) -> int | None:
        sx0, sy0, sx1, sy1 = strip
        sx0, sy0, sx1, sy1 = max(0, sx0), max(0, sy0), min(W, sx1), min(H, sy1)
        if sx1 <= sx0 or sy1 <= sy0:
            return None
        cols, rows = _profiles(foreground(img.crop((sx0, sy0, sx1, sy1)), bg, tolerance))
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


def find_regions(img: Image.Image, count: int) -> list[Region]:
    """Panel-like regions on a decoded RGB sheet, for a layout of `count` panels."""
    factor = max(1, math.ceil(max(img.size) / DETECT_SIDE))
    small = img.reduce(factor) if factor > 1 else img
    bg, tolerance = background(small)
    mask = foreground(small, bg, tolerance)
    sw, sh = small.size
    min_gap = max(1, round(max(sw, sh) * 0.002))
    cells = [(c, "gutter") for c in _panel_like(_cells(mask, (0, 0, sw, sh), min_gap), count)]
    # Fewer cells than panels: the largest probably holds two panels that touch.
    tried: set[Cell] = set()
    while len(cells) < count:
        candidates = [c for c in cells if c[0] not in tried]
        if not candidates:
            break
        cell, _ = max(candidates, key=lambda c: _area(c[0]))
        tried.add(cell)
        split = _split(small, mask, cell)
        if split is None:
            continue
        parts, how = split
        cells = [c for c in cells if c[0] != cell] + [(p, how) for p in parts]
    # More cells than panels: a panel whose picture has background-coloured stretches comes
    # in pieces. Join the smallest to the neighbour it lines up with, while nothing else is
    # caught in between.
    while len(cells) > count:
        joined = _join_smallest([c for c, _ in cells])
        if joined is None:
            break
        a, b, union = joined
        cells = [c for c in cells if c[0] not in (a, b)] + [(union, "merged")]
    skin = skin_mask(small, mask)
    sx, sy = img.width / sw, img.height / sh
    regions = []
    for (cx0, cy0, cx1, cy1), how in cells:
        coarse = _clamp((cx0 * sx, cy0 * sy, (cx1 - cx0) * sx, (cy1 - cy0) * sy), img.size)
        box = _refine(img, bg, tolerance, coarse, factor + 2) if how == "gutter" else coarse
        patch = skin.crop(
            (cx0 // 2, cy0 // 2, max(cx0 // 2 + 1, cx1 // 2), max(cy0 // 2 + 1, cy1 // 2))
        )
        regions.append(Region(box, how, round(_mean(patch), 4), round(head_share(patch), 4)))
    return regions


# --- step 2: kinds ---------------------------------------------------------------------------


def _clip(v: float) -> float:
    return round(min(1.0, max(0.0, v)), 2)


def assign_kinds(
    preset: str, regions: list[Region]
) -> tuple[dict[str, tuple[int, float]], list[str]]:
    """Kind -> (region index, kind confidence), and the reasons for any doubt."""
    specs = get_preset(preset).panels
    full_kinds = [s.kind for s in specs if s.framing == "full"]
    face_kinds = [s.kind for s in specs if s.framing == "face"]
    mid_kinds = [s.kind for s in specs if s.framing == "mid"]
    close_count = len(face_kinds) + len(mid_kinds)
    reasons: list[str] = []
    n = len(regions)
    order = sorted(range(n), key=lambda i: regions[i].full_body_score, reverse=True)
    scores = [regions[i].full_body_score for i in order]
    # How many of the regions are full-body views: exactly the preset's number when every
    # panel was found; otherwise where the scores fall apart most clearly.
    lo, hi = max(0, n - close_count), min(n, len(full_kinds))

    def gap(k: int) -> float:
        upper = scores[k - 1] if k > 0 else 2.0
        lower = scores[k] if k < n else -0.45
        return upper - lower

    k = max(range(lo, hi + 1), key=gap)
    group_confidence = _clip(0.3 + 0.6 * gap(k))
    if group_confidence < REVIEW_BELOW:
        reasons.append(
            "Full-body views and close-ups look alike on this sheet; check which is which."
        )
    full = [order[i] for i in range(k)]
    close = [order[i] for i in range(k, n)]
    out: dict[str, tuple[int, float]] = {}

    full_sorted = [full[i] for i in reading_order([regions[j].box for j in full])]
    for kind, index in zip(full_kinds, full_sorted, strict=False):
        out[kind] = (index, group_confidence)
    # The back view shows no face: the full-body view with the least skin should be the back.
    back = full_kinds[-1] if full_kinds and "back" in full_kinds[-1] else None
    if back in out and len(full_sorted) >= 3:
        least = min(full_sorted, key=lambda j: regions[j].skin)
        others = min(regions[j].skin for j in full_sorted if j != least)
        if least != out[back][0] and others > 0.004 and regions[least].skin < 0.5 * others:
            reasons.append(
                "The view with no face showing is not the last full-body panel; check the angles."
            )
            for kind, (index, conf) in list(out.items()):
                if index in (least, out[back][0]):
                    out[kind] = (index, min(conf, 0.45))

    # Close-ups: the one holding more face (its height spanned by skin, and its share of skin)
    # is the face close-up; a mid close-up holds more of the figure around the face.
    close_sorted = [close[i] for i in reading_order([regions[j].box for j in close])]
    if len(close_sorted) >= 2 and face_kinds and mid_kinds:
        a, b = close_sorted[0], close_sorted[1]
        sa, sb = regions[a].head + regions[a].skin, regions[b].head + regions[b].skin
        hi_i, lo_i = (a, b) if sa >= sb else (b, a)
        s_hi, s_lo = max(sa, sb), min(sa, sb)
        if s_hi >= 1.3 * s_lo + 0.05:
            face, mid, conf = hi_i, lo_i, _clip(0.55 + 1.5 * (s_hi - s_lo))
        else:
            face, mid, conf = a, b, 0.5  # as much face in each: reading order decides
            reasons.append(
                "The face and mid close-ups show about as much of the face; check which is which."
            )
        out[face_kinds[0]] = (face, min(conf, group_confidence))
        out[mid_kinds[0]] = (mid, min(conf, group_confidence))
    elif len(close_sorted) == 1:
        kind = (face_kinds or mid_kinds)[0]
        out[kind] = (close_sorted[0], min(0.5, group_confidence))
    return out, reasons


# --- the whole detection ---------------------------------------------------------------------


def _label(kind: str) -> str:
    return kind.replace("_", " ")


def detect_panels(img: Image.Image, preset: str) -> Detection:
    """Find and name the preset's panels on a decoded RGB sheet."""
    layout = get_preset(preset)
    count = len(layout.panels)
    nominal = nominal_boxes(preset, img.width, img.height)
    regions = find_regions(img, count)
    reasons: list[str] = []
    if len(regions) > count:
        reasons.append(
            f"Found {len(regions)} regions for {count} panels; the smallest were left out."
        )
        keep = sorted(regions, key=lambda r: r.box[2] * r.box[3], reverse=True)[:count]
        regions = [r for r in regions if r in keep]
    if len(regions) < math.ceil(count / 2):
        panels = tuple(FoundPanel(kind, box, False, 0.0) for kind, box in nominal.items())
        return Detection(
            "nominal",
            panels,
            True,
            ("No panels could be told apart on this sheet; the layout's nominal boxes stand in.",),
            tuple(regions),
        )
    kinds, kind_reasons = assign_kinds(preset, regions)
    reasons.extend(kind_reasons)
    penalty = 1.0 if len(regions) == count else 0.85
    for how, words in (
        ("edge", "Some panels touch with no gutter; their shared edge was placed by colour."),
        (
            "valley",
            "Some figures share one background; they were separated by the empty space between them.",
        ),
        ("merged", "A panel came in pieces (parts of it match the background); they were joined."),
    ):
        if any(
            kinds.get(s.kind, (None,))[0] is not None and regions[kinds[s.kind][0]].how == how
            for s in layout.panels
        ):
            reasons.append(words)
    panels = []
    for spec in layout.panels:
        if spec.kind in kinds:
            index, kind_conf = kinds[spec.kind]
            region = regions[index]
            conf = min(SEPARATION_CONFIDENCE[region.how] * penalty, kind_conf)
            panels.append(FoundPanel(spec.kind, region.box, True, _clip(conf)))
        else:
            reasons.append(f"No {_label(spec.kind)} was found; the layout's nominal box stands in.")
            panels.append(FoundPanel(spec.kind, nominal[spec.kind], False, 0.0))
    found = sum(p.detected for p in panels)
    method = "detected" if found == count else "partial"
    review = any(p.confidence < REVIEW_BELOW for p in panels)
    if review and not reasons:
        reasons.append("Some panels were found with little certainty; check their boxes.")
    return Detection(method, tuple(panels), review, tuple(reasons), tuple(regions))
