"""A corpus of turnaround sheets with known panels, for the split's tests and benchmark.

Each sheet records the truth: every panel's kind and box. Drawn sheets vary the arrangement
(the preset's own, three by two, four over two, close-ups on the left, wide and narrow close-up
columns, eight panels in one row or two), the separation (gutters, drawn borders only, tinted
panels touching with no gutter, figures on one shared background with only empty space between
them), the margins, the background (light, white, dark, beige paper, a gradient), and title and
caption strips. Photo sheets paste real photographs (scikit-image's bundled samples: the
astronaut Eileen Collins, the cameraman, a rocket launch) onto a shared background.

On panel sheets the truth is the panel's rectangle; where figures share one background with no
panel drawn, it is the figure's own extent (what a reviewer would crop).

    python -m tests.split_corpus OUTDIR   # writes OUTDIR/<name>.png and OUTDIR/truth.json
"""

from __future__ import annotations

import io
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

Box = tuple[int, int, int, int]

SKINS = [(238, 198, 168), (201, 146, 108), (124, 84, 58)]
FULL_SIX = ["front", "three_quarter", "profile", "back"]
FULL_EIGHT = [
    "front",
    "three_quarter_left",
    "three_quarter_right",
    "profile_left",
    "profile_right",
    "back",
]


@dataclass(frozen=True)
class Palette:
    background: tuple[int, int, int]
    panel: tuple[int, int, int] | None  # panel fill; None: panels are not filled
    hair: tuple[int, int, int] = (70, 45, 30)
    clothes: tuple[int, int, int] = (52, 66, 98)
    trousers: tuple[int, int, int] = (38, 40, 48)
    shoes: tuple[int, int, int] = (22, 22, 24)
    eyes: tuple[int, int, int] = (30, 30, 34)


LIGHT = Palette((232, 232, 230), (206, 208, 206))
WHITE = Palette((255, 255, 255), (226, 232, 238))
DARK = Palette(
    (44, 45, 49),
    None,
    hair=(214, 180, 92),
    clothes=(150, 168, 196),
    trousers=(112, 126, 150),
    shoes=(236, 236, 236),
    eyes=(20, 20, 20),
)
BEIGE = Palette((238, 229, 212), None, clothes=(60, 92, 70))


@dataclass
class CorpusSheet:
    name: str
    preset: str
    image: Image.Image
    truth: dict[str, Box]
    notes: list[str] = field(default_factory=list)

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, "PNG", compress_level=1)
        return buf.getvalue()


# --- drawing figures -------------------------------------------------------------------------


def _figure(size: tuple[int, int], kind: str, skin, pal: Palette) -> Image.Image:
    """A standing, empty-handed figure seen from the kind's angle, on a transparent layer."""
    w, h = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    fig_h = min(h * 0.88, w * 0.88 / 0.34)
    u = fig_h / 8
    top = (h - fig_h) / 2
    cx = w / 2
    back = kind == "back"
    profile = kind.startswith("profile")
    three_q = kind.startswith("three_quarter")
    k = 0.55 if profile else 0.8 if three_q else 1.0
    facing = 1 if kind.endswith("_right") else -1
    # legs, shoes
    leg_w = 0.62 * u * k
    for side in (-1, 1):
        lx = cx + side * 0.34 * u * k
        d.rectangle(
            (lx - leg_w / 2, top + 3.9 * u, lx + leg_w / 2, top + 7.65 * u), fill=pal.trousers
        )
        d.rectangle(
            (
                lx - leg_w / 2,
                top + 7.6 * u,
                lx + leg_w / 2 + (0 if back else 0.1 * u * facing),
                top + 8 * u,
            ),
            fill=pal.shoes,
        )
    # torso and arms, hands
    d.rectangle(
        (cx - 0.85 * u * k, top + 1.25 * u, cx + 0.85 * u * k, top + 4.1 * u), fill=pal.clothes
    )
    for side in (-1, 1):
        ax = cx + side * (0.85 * u * k + 0.18 * u)
        d.rectangle((ax - 0.2 * u, top + 1.35 * u, ax + 0.2 * u, top + 3.6 * u), fill=pal.clothes)
        d.ellipse((ax - 0.17 * u, top + 3.55 * u, ax + 0.17 * u, top + 3.95 * u), fill=skin)
    # neck, head, hair, face
    d.rectangle((cx - 0.14 * u, top + 0.9 * u, cx + 0.14 * u, top + 1.3 * u), fill=skin)
    hx = cx + (0.08 * u * facing if profile or three_q else 0)
    head = (hx - 0.36 * u, top, hx + 0.36 * u, top + 1.0 * u)
    d.ellipse(head, fill=pal.hair if back else skin)
    if not back:
        d.chord((head[0], head[1], head[2], head[1] + 0.75 * u), 180, 360, fill=pal.hair)
        eyes = (
            [-0.14, 0.14]
            if kind == "front"
            else [0.12 * facing]
            if profile
            else [-0.05, 0.18 * facing]
        )
        for e in eyes:
            ex = hx + e * u
            d.ellipse((ex - 0.05 * u, top + 0.48 * u, ex + 0.05 * u, top + 0.56 * u), fill=pal.eyes)
        if profile:
            d.polygon(
                [
                    (hx + 0.34 * u * facing, top + 0.5 * u),
                    (hx + 0.45 * u * facing, top + 0.62 * u),
                    (hx + 0.34 * u * facing, top + 0.7 * u),
                ],
                fill=skin,
            )
    return layer


def _closeup(size: tuple[int, int], kind: str, skin, pal: Palette) -> Image.Image:
    """Face close-up (the face fills the panel) or mid close-up (chest up)."""
    w, h = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    H = min(h * 0.92, w * 1.2)
    cx, top = w / 2, (h - H) / 2
    if kind.startswith("face"):
        head_w, head_h, head_top = 0.5 * H, 0.66 * H, top + 0.04 * H
        d.rectangle((cx - 0.45 * H, top + 0.8 * H, cx + 0.45 * H, top + H), fill=pal.clothes)
        d.rectangle(
            (cx - 0.1 * H, head_top + head_h * 0.9, cx + 0.1 * H, top + 0.82 * H), fill=skin
        )
    else:
        head_w, head_h, head_top = 0.24 * H, 0.32 * H, top + 0.04 * H
        d.rectangle((cx - 0.36 * H, top + 0.44 * H, cx + 0.36 * H, top + H), fill=pal.clothes)
        d.rectangle(
            (cx - 0.05 * H, head_top + head_h * 0.9, cx + 0.05 * H, top + 0.46 * H), fill=skin
        )
    head = (cx - head_w / 2, head_top, cx + head_w / 2, head_top + head_h)
    d.ellipse(head, fill=skin)
    d.chord((head[0], head[1], head[2], head[1] + head_h * 0.6), 180, 360, fill=pal.hair)
    for e in (-0.2, 0.2):
        ex = cx + e * head_w
        ey = head_top + 0.5 * head_h
        d.ellipse(
            (ex - 0.06 * head_w, ey - 0.03 * head_h, ex + 0.06 * head_w, ey + 0.03 * head_h),
            fill=pal.eyes,
        )
    return layer


def _draw_kind(size: tuple[int, int], kind: str, skin, pal: Palette) -> Image.Image:
    if kind in ("face_closeup", "mid_closeup"):
        return _closeup(size, kind, skin, pal)
    return _figure(size, kind, skin, pal)


# --- arrangements ----------------------------------------------------------------------------


def _columns(
    full: list[str],
    width: int,
    height: int,
    *,
    margin: float,
    gutter: float,
    closeup_share: float,
    closeups_left: bool = False,
    top: float = 0.0,
) -> dict[str, Box]:
    """Full-body panels side by side; the two close-ups stacked in a column of their own."""
    mx, my, g = round(margin * width), round(margin * height), round(gutter * width)
    y0 = my + round(top * height)
    inner_w, inner_h = width - 2 * mx, height - my - y0
    close_w = round(inner_w * closeup_share)
    full_w = (inner_w - close_w - g * len(full)) // len(full)
    boxes: dict[str, Box] = {}
    x = mx + (close_w + g if closeups_left else 0)
    for kind in full:
        boxes[kind] = (x, y0, full_w, inner_h)
        x += full_w + g
    cx = mx if closeups_left else x
    cw = close_w if closeups_left else width - mx - x
    half = (inner_h - g) // 2
    boxes["face_closeup"] = (cx, y0, cw, half)
    boxes["mid_closeup"] = (cx, y0 + half + g, cw, inner_h - half - g)
    return boxes


def _rows(
    rows: list[list[str]], width: int, height: int, *, margin: float, gutter: float, weights
) -> dict[str, Box]:
    """Rows of panels, equal widths within a row, row heights by weight."""
    mx, my, g = round(margin * width), round(margin * height), round(gutter * width)
    inner_w, inner_h = width - 2 * mx, height - 2 * my - g * (len(rows) - 1)
    boxes: dict[str, Box] = {}
    y = my
    for row, weight in zip(rows, weights, strict=True):
        rh = round(inner_h * weight / sum(weights))
        cw = (inner_w - g * (len(row) - 1)) // len(row)
        for i, kind in enumerate(row):
            boxes[kind] = (mx + i * (cw + g), y, cw, rh)
        y += rh + g
    return boxes


def _background(size, pal: Palette, style: str, seed: int) -> Image.Image:
    if style == "gradient":
        grad = Image.linear_gradient("L").resize(size).point(lambda v: 246 - v * 20 // 255)
        return Image.merge("RGB", (grad, grad, grad.point(lambda v: v - 2)))
    sheet = Image.new("RGB", size, pal.background)
    if style == "paper":
        rng = random.Random(seed)
        w, h = size
        noise = Image.frombytes("L", (w // 4, h // 4), rng.randbytes((w // 4) * (h // 4)))
        noise = noise.resize(size).point(lambda v: v * 10 // 255)
        sheet = Image.merge(
            "RGB",
            [Image.eval(noise, lambda v, c=c: c - 5 + v) for c in pal.background],
        )
    return sheet


def _title(sheet: Image.Image, box: Box, colour, seed: int) -> None:
    """Blocks shaped like a line of text."""
    rng = random.Random(seed)
    d = ImageDraw.Draw(sheet)
    x, y, w, h = box
    cx = x
    while cx < x + w:
        glyph = rng.randint(h // 3, h)
        d.rectangle((cx, y + rng.randint(0, h // 4), cx + glyph * 0.6, y + h), fill=colour)
        cx += glyph * 0.6 + rng.randint(h // 8, h // 2) + (h if rng.random() < 0.15 else 0)


def _panel_sheet(
    name,
    preset,
    size,
    boxes,
    *,
    pal: Palette = LIGHT,
    skin=0,
    border: int = 0,
    tints=None,
    style="plain",
    title: Box | None = None,
    captions: bool = False,
) -> CorpusSheet:
    sheet = _background(size, pal, style, len(name))
    d = ImageDraw.Draw(sheet)
    for i, (kind, (x, y, w, h)) in enumerate(boxes.items()):
        fill = tints[i % len(tints)] if tints else pal.panel
        if fill is not None:
            d.rectangle((x, y, x + w - 1, y + h - 1), fill=fill)
        if border:
            d.rectangle((x, y, x + w - 1, y + h - 1), outline=(96, 98, 100), width=border)
        inset = max(border * 2, 4)
        layer = _draw_kind((w - 2 * inset, h - 2 * inset), kind, SKINS[skin], pal)
        sheet.paste(layer, (x + inset, y + inset), layer)
        if captions:
            ch = max(6, size[1] // 90)
            _title(sheet, (x + w // 3, y + h + ch // 2, w // 3, ch), (90, 90, 90), i)
    if title:
        _title(sheet, title, (40, 40, 44) if sum(pal.background) > 300 else (220, 220, 220), 7)
    return CorpusSheet(name, preset, sheet, dict(boxes))


def _shared_sheet(name, preset, size, cells, *, pal: Palette, skin=0, style="plain") -> CorpusSheet:
    """Figures on one continuous background, no panels drawn: the truth is each figure."""
    sheet = _background(size, pal, style, len(name))
    truth = {}
    for kind, (x, y, w, h) in cells.items():
        layer = _draw_kind((w, h), kind, SKINS[skin], pal)
        bx0, by0, bx1, by1 = layer.getchannel("A").getbbox()
        sheet.paste(layer, (x, y), layer)
        truth[kind] = (x + bx0, y + by0, bx1 - bx0, by1 - by0)
    return CorpusSheet(name, preset, sheet, truth)


def drawn_sheets(width: int = 1920, height: int = 1080) -> list[CorpusSheet]:
    W, H = width, height
    s = []
    s.append(
        _panel_sheet(
            "preset-six",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.02, gutter=0.012, closeup_share=0.3),
        )
    )
    s.append(
        _panel_sheet(
            "three-by-two",
            "six",
            (W, H),
            _rows(
                [["front", "three_quarter", "profile"], ["back", "face_closeup", "mid_closeup"]],
                W,
                H,
                margin=0.03,
                gutter=0.015,
                weights=(1, 1),
            ),
            pal=WHITE,
            skin=1,
        )
    )
    s.append(
        _panel_sheet(
            "four-over-two",
            "six",
            (W, H),
            _rows(
                [FULL_SIX, ["face_closeup", "mid_closeup"]],
                W,
                H,
                margin=0.025,
                gutter=0.01,
                weights=(1.7, 1),
            ),
            skin=2,
        )
    )
    s.append(
        _panel_sheet(
            "closeups-left",
            "six",
            (W, H),
            _columns(
                FULL_SIX, W, H, margin=0.03, gutter=0.014, closeup_share=0.28, closeups_left=True
            ),
            pal=WHITE,
        )
    )
    s.append(
        _panel_sheet(
            "title-strip",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.025, gutter=0.012, closeup_share=0.3, top=0.08),
            skin=1,
            title=(round(0.3 * W), round(0.025 * H), round(0.4 * W), round(0.045 * H)),
        )
    )
    s.append(
        _panel_sheet(
            "wide-closeups",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.04, gutter=0.02, closeup_share=0.4),
            style="gradient",
        )
    )
    s.append(
        _panel_sheet(
            "narrow-closeups-captions",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H - round(0.04 * H), margin=0.02, gutter=0.01, closeup_share=0.2),
            pal=WHITE,
            skin=2,
            captions=True,
        )
    )
    s.append(
        _panel_sheet(
            "borders-only",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.03, gutter=0.012, closeup_share=0.3),
            pal=Palette((240, 240, 238), None),
            border=3,
        )
    )
    s.append(
        _panel_sheet(
            "tinted-touching",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.04, gutter=0.0, closeup_share=0.3),
            tints=[(196, 210, 222), (214, 206, 230), (200, 222, 200)],
            skin=1,
        )
    )
    s.append(
        _shared_sheet(
            "shared-background",
            "six",
            (W, H),
            _columns(FULL_SIX, W, H, margin=0.01, gutter=0.0, closeup_share=0.3),
            pal=LIGHT,
        )
    )
    s.append(
        _shared_sheet(
            "shared-dark",
            "six",
            (W, H),
            _columns(
                FULL_SIX, W, H, margin=0.0, gutter=0.0, closeup_share=0.32, closeups_left=True
            ),
            pal=DARK,
            skin=0,
        )
    )
    s.append(
        _shared_sheet(
            "shared-paper-grid",
            "six",
            (W, H),
            _rows(
                [["front", "three_quarter", "profile"], ["back", "face_closeup", "mid_closeup"]],
                W,
                H,
                margin=0.0,
                gutter=0.0,
                weights=(1, 1),
            ),
            pal=BEIGE,
            skin=1,
            style="paper",
        )
    )
    s.append(
        _panel_sheet(
            "preset-eight",
            "eight",
            (W, H),
            _columns(FULL_EIGHT, W, H, margin=0.02, gutter=0.012, closeup_share=0.25),
            skin=1,
        )
    )
    s.append(
        _panel_sheet(
            "eight-two-rows",
            "eight",
            (W, H),
            _rows(
                [FULL_EIGHT[:4], [*FULL_EIGHT[4:], "face_closeup", "mid_closeup"]],
                W,
                H,
                margin=0.03,
                gutter=0.012,
                weights=(1, 1),
            ),
            pal=WHITE,
            skin=2,
        )
    )
    s.append(
        _shared_sheet(
            "eight-shared",
            "eight",
            (W, H),
            _columns(FULL_EIGHT, W, H, margin=0.01, gutter=0.0, closeup_share=0.24),
            pal=BEIGE,
            skin=0,
            style="paper",
        )
    )
    return s


# --- real photographs ------------------------------------------------------------------------


def _photos() -> dict[str, Image.Image]:
    """Real photographs bundled with scikit-image (no download): crops as panel content."""
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())  # 512x512, Eileen Collins
    camera = Image.fromarray(data.camera()).convert("RGB")  # 512x512, a man with a camera
    rocket = Image.fromarray(data.rocket())  # 640x427
    return {
        # Tall crops stand for full-body views; the astronaut's face and chest for close-ups.
        "front": camera.crop((130, 40, 330, 512)),
        "three_quarter": astronaut.crop((250, 150, 450, 512)),
        "profile": rocket.crop((250, 0, 420, 427)),
        "back": camera.crop((300, 0, 480, 512)),
        "face_closeup": astronaut.crop((140, 20, 290, 190)),
        "mid_closeup": astronaut.crop((60, 0, 420, 380)),
    }


def photo_sheets(width: int = 1920, height: int = 1080) -> list[CorpusSheet]:
    photos = _photos()
    sheets = []
    arrangements = [
        (
            "photos-preset",
            (150, 150, 150),
            _columns(FULL_SIX, width, height, margin=0.03, gutter=0.02, closeup_share=0.3),
        ),
        (
            "photos-grid",
            (250, 250, 248),
            _rows(
                [["front", "three_quarter", "profile"], ["back", "face_closeup", "mid_closeup"]],
                width,
                height,
                margin=0.04,
                gutter=0.03,
                weights=(1, 1),
            ),
        ),
        (
            "photos-closeups-left",
            (40, 44, 52),
            _columns(
                FULL_SIX,
                width,
                height,
                margin=0.05,
                gutter=0.025,
                closeup_share=0.33,
                closeups_left=True,
            ),
        ),
    ]
    for name, bg, cells in arrangements:
        sheet = Image.new("RGB", (width, height), bg)
        truth = {}
        for kind, (x, y, w, h) in cells.items():
            photo = photos[kind]
            # Fit the photo inside its cell, keeping its proportions, centred.
            scale = min(w / photo.width, h / photo.height)
            pw, ph = round(photo.width * scale), round(photo.height * scale)
            px, py = x + (w - pw) // 2, y + (h - ph) // 2
            sheet.paste(photo.resize((pw, ph), Image.Resampling.LANCZOS), (px, py))
            truth[kind] = (px, py, pw, ph)
        sheets.append(CorpusSheet(name, "six", sheet, truth))
    return sheets


def corpus(width: int = 1920, height: int = 1080) -> list[CorpusSheet]:
    return drawn_sheets(width, height) + photo_sheets(width, height)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    truth = {}
    for sheet in corpus():
        (out / f"{sheet.name}.png").write_bytes(sheet.png())
        truth[sheet.name] = {"preset": sheet.preset, "panels": sheet.truth}
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    print(f"{len(truth)} sheets written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
