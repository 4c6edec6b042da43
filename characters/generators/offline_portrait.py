"""Offline portraits: a person's traits read from a brief, drawn as a stylised face with Pillow.

Long because the face is one drawing recipe (skin, hair, features, accessories) read top to bottom.

The traits (skin, hair, eyes, features, accessories) come from the brief's words and a seed, so
the same brief and seed always draw the same person; offline_sheet draws the same person from
every angle. Everything here is drawing: the generator itself is in offline.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

OFFLINE_LABEL = "offline preview"
MAX_SIDE = 4096

SKIN_TONES = {
    "pale": (247, 222, 205),
    "fair": (241, 210, 186),
    "light": (236, 200, 172),
    "olive": (198, 160, 118),
    "tan": (204, 153, 108),
    "brown": (150, 102, 70),
    "dark": (105, 70, 48),
    "deep": (84, 56, 40),
}
HAIR_COLOURS = {
    "blonde": (222, 190, 120),
    "blond": (222, 190, 120),
    "ginger": (190, 92, 40),
    "red": (170, 70, 35),
    "auburn": (130, 55, 35),
    "black": (28, 24, 22),
    "brunette": (90, 60, 40),
    "brown": (95, 64, 42),
    "grey": (160, 160, 158),
    "gray": (160, 160, 158),
    "silver": (190, 192, 196),
    "white": (232, 230, 226),
}
EYE_COLOURS = {
    "blue": (70, 120, 190),
    "green": (70, 140, 90),
    "hazel": (140, 110, 60),
    "brown": (90, 60, 35),
    "grey": (120, 130, 140),
    "gray": (120, 130, 140),
    "amber": (190, 130, 40),
}
# Accessories the inspector can be asked about, with the words a brief or shot might use.
ACCESSORY_WORDS = {
    "airpod": (
        "airpod",
        "airpods",
        "earbud",
        "earbuds",
        "earphone",
        "earphones",
        "headphone",
        "headphones",
        "headset",
        "earpiece",
        "earpieces",
        "inear",
    ),
    "earring": ("earring", "earrings", "stud", "studs", "hoop", "hoops"),
    "glasses": ("glasses", "spectacles", "eyeglasses", "specs", "sunglasses"),
    "scar": ("scar", "scars", "scarred"),
}


def accessory_text(text: str) -> str:
    """Lower-case text with the split spellings joined: "Air Pods", "ear buds", "in-ear"."""
    return re.sub(r"\b(air|ear|in)[\s-]+(pods?|buds?|phones?|ear)\b", r"\1\2", text.lower())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _first_match(text: str, table: dict, *, before: str | None = None) -> str | None:
    """The first table word in text; with `before`, only words directly before it ("blue eyes")."""
    words = _words(text)
    for i, word in enumerate(words):
        if word not in table:
            continue
        if before is None:
            return word
        if any(w.startswith(before) for w in words[i + 1 : i + 3]):
            return word
    return None


@dataclass(frozen=True)
class FaceTraits:
    skin: str
    hair: str
    eyes: str
    hair_style: str
    beard: str  # "", "stubble", "beard", "moustache"
    glasses: bool
    scar: str  # "", "left", "right"
    freckles: bool
    earring: bool
    airpod: bool
    lines: bool  # age lines
    face_width: float
    jaw: float
    eye_gap: float
    nose: float
    mouth: float
    background: tuple[int, int, int]
    face_length: float = 1.32
    brow: float = 0.35
    lips: float = 0.35
    nose_width: float = 0.2
    eye_shape: float = 0.75
    tone: float = 1.0
    hair_tone: float = 1.0
    fringe: float = 0.1
    feminine: bool = False

    def as_dict(self) -> dict:
        return {
            "skin": self.skin,
            "hair": self.hair,
            "eyes": self.eyes,
            "hair_style": self.hair_style,
            "beard": self.beard,
            "glasses": self.glasses,
            "scar": self.scar,
            "freckles": self.freckles,
            "earring": self.earring,
            "airpod": self.airpod,
            "lines": self.lines,
        }


def traits_from(text: str, seed: int) -> FaceTraits:
    """Read what the brief names; let the seed decide everything it leaves open.

    `text` should be the subject (brief and marks), not the whole prompt: a style line that
    says "stubble where the person has them" must not grow stubble on everyone.
    """
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    rng = random.Random(digest)
    words = set(_words(text))
    hair_word = _first_match(text, HAIR_COLOURS, before="hair")
    if hair_word is None:
        hair_word = next(
            (w for w in ("blonde", "blond", "ginger", "auburn", "brunette") if w in words), None
        )
    eye_word = _first_match(text, EYE_COLOURS, before="eye")
    skin_word = _first_match(text, SKIN_TONES, before="skin") or next(
        (w for w in ("pale", "fair", "olive", "tan", "dark", "deep") if w in words), None
    )
    if {"bald", "shaved", "shaven"} & words:
        style = "bald"
    elif "ponytail" in words:
        style = "ponytail"
    elif "curly" in words or "curls" in words:
        style = "curly"
    elif "long" in words:
        style = "long"
    elif "short" in words or "cropped" in words:
        style = "short"
    else:
        style = rng.choice(["short", "long", "curly", "short"])
    if "stubble" in words:
        beard = "stubble"
    elif "beard" in words or "bearded" in words:
        beard = "beard"
    elif {"moustache", "mustache"} & words:
        beard = "moustache"
    else:
        beard = ""
    scar = ""
    if "scar" in words:
        scar = (
            "right" if re.search(r"right\s+(?:\w+\s+)?(?:cheek|eye|brow)", text.lower()) else "left"
        )
    lines = bool({"lines", "wrinkles", "weathered", "old", "elderly", "lined"} & words) or bool(
        re.search(r"\b[4-9]0s\b|\b(?:4|5|6|7|8)\d\b", text)
    )
    palette = [(46, 50, 56), (58, 62, 70), (70, 66, 62), (52, 60, 58), (64, 58, 66)]
    return FaceTraits(
        skin=skin_word or rng.choice(list(SKIN_TONES)),
        hair=hair_word or rng.choice(["black", "brown", "blonde", "auburn", "grey"]),
        eyes=eye_word or rng.choice(["blue", "green", "hazel", "brown", "grey"]),
        hair_style=style,
        beard=beard,
        glasses="glasses" in words or "spectacles" in words,
        scar=scar,
        freckles="freckles" in words or "freckled" in words,
        earring="earring" in words or "earrings" in words,
        airpod=bool(set(ACCESSORY_WORDS["airpod"]) & set(_words(accessory_text(text)))),
        lines=lines,
        face_width=rng.uniform(0.26, 0.34),
        jaw=rng.uniform(0.75, 1.0),
        eye_gap=rng.uniform(0.085, 0.12),
        nose=rng.uniform(0.07, 0.11),
        mouth=rng.uniform(0.07, 0.11),
        background=rng.choice(palette),
        face_length=rng.uniform(1.2, 1.45),
        brow=rng.uniform(0.22, 0.55),
        lips=rng.uniform(0.25, 0.55),
        nose_width=rng.uniform(0.14, 0.32),
        eye_shape=rng.uniform(0.55, 0.9),
        tone=rng.uniform(0.9, 1.08),
        hair_tone=rng.uniform(0.8, 1.15),
        fringe=rng.uniform(-0.05, 0.3),
        feminine=bool({"woman", "she", "her", "female", "girl", "actress"} & words),
    )


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in colour)  # type: ignore[return-value]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=max(10, size))
    except (OSError, TypeError):  # Pillow built without FreeType
        return ImageFont.load_default()


def draw_label(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    size = max(12, height // 40)
    font = _font(size)
    pad = size // 2
    text = OFFLINE_LABEL.upper()
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    x0, y0 = pad, height - th - 3 * pad
    draw.rectangle((x0, y0, x0 + tw + 2 * pad, y0 + th + 2 * pad), fill=(20, 20, 20))
    draw.text((x0 + pad, y0 + pad - box[1]), text, font=font, fill=(240, 200, 80))


def draw_portrait(
    traits: FaceTraits, width: int, height: int, *, label: bool = True
) -> tuple[Image.Image, list[dict]]:
    """A head-and-shoulders portrait. Returns the image and the items drawn (boxes 0–1)."""
    img = Image.new("RGB", (width, height), traits.background)
    d = ImageDraw.Draw(img)
    s = min(width, height)
    cx, cy = width / 2, height * 0.46
    fw = traits.face_width * s
    fh = fw * traits.face_length
    skin = _shade(SKIN_TONES[traits.skin], traits.tone)
    hair = _shade(HAIR_COLOURS[traits.hair], traits.hair_tone)
    items: list[dict] = []

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [
            round(x0 / width, 4),
            round(y0 / height, 4),
            round((x1 - x0) / width, 4),
            round((y1 - y0) / height, 4),
        ]

    # Shoulders and neck.
    d.ellipse((cx - fw * 2.1, cy + fh * 0.95, cx + fw * 2.1, cy + fh * 3.2), fill=(60, 70, 90))
    d.rectangle(
        (cx - fw * 0.35, cy + fh * 0.6, cx + fw * 0.35, cy + fh * 1.15), fill=_shade(skin, 0.9)
    )
    # Hair behind the head.
    if traits.hair_style == "long":
        d.rounded_rectangle(
            (cx - fw * 1.2, cy - fh * 1.1, cx + fw * 1.2, cy + fh * 1.2),
            radius=int(fw * 0.6),
            fill=hair,
        )
    elif traits.hair_style == "ponytail":
        d.ellipse((cx + fw * 0.8, cy - fh * 0.2, cx + fw * 1.4, cy + fh * 0.9), fill=hair)
    # Ears.
    for side in (-1, 1):
        ex = cx + side * fw * 1.0
        d.ellipse(
            (ex - fw * 0.14, cy - fh * 0.12, ex + fw * 0.14, cy + fh * 0.22),
            fill=_shade(skin, 0.93),
        )
    # Face: a jawline polygon over an ellipse.
    d.ellipse((cx - fw, cy - fh, cx + fw, cy + fh * 0.8), fill=skin)
    jaw = traits.jaw
    d.polygon(
        [
            (cx - fw * 0.98, cy),
            (cx + fw * 0.98, cy),
            (cx + fw * 0.55 * jaw + fw * 0.2, cy + fh * 0.78),
            (cx, cy + fh * 0.98),
            (cx - fw * 0.55 * jaw - fw * 0.2, cy + fh * 0.78),
        ],
        fill=skin,
    )
    # Hair on top.
    if traits.hair_style != "bald":
        d.chord(
            (cx - fw * 1.05, cy - fh * 1.12, cx + fw * 1.05, cy + fh * (0.1 - traits.fringe)),
            180,
            360,
            fill=hair,
        )
        if traits.hair_style == "curly":
            rng = random.Random(int(fw * 1000) + len(traits.hair))
            for _ in range(28):
                a = rng.uniform(-1.05, 1.05)
                r = fw * rng.uniform(0.12, 0.22)
                px, py = cx + a * fw, cy - fh * rng.uniform(0.55, 1.1)
                d.ellipse((px - r, py - r, px + r, py + r), fill=hair)
    else:
        d.arc(
            (cx - fw * 0.9, cy - fh * 1.0, cx + fw * 0.9, cy - fh * 0.2),
            200,
            340,
            fill=_shade(skin, 1.08),
            width=max(2, int(s * 0.006)),
        )
    # Eyes, brows.
    eye_y = cy - fh * 0.12
    gap = traits.eye_gap * s
    er = fw * 0.16
    for side in (-1, 1):
        ex = cx + side * gap
        d.ellipse(
            (
                ex - er * 1.4,
                eye_y - er * traits.eye_shape,
                ex + er * 1.4,
                eye_y + er * traits.eye_shape,
            ),
            fill=(245, 245, 240),
        )
        d.ellipse(
            (ex - er * 0.62, eye_y - er * 0.62, ex + er * 0.62, eye_y + er * 0.62),
            fill=EYE_COLOURS[traits.eyes],
        )
        d.ellipse(
            (ex - er * 0.28, eye_y - er * 0.28, ex + er * 0.28, eye_y + er * 0.28),
            fill=(15, 15, 15),
        )
        brow = _shade(hair, 0.8) if traits.hair_style != "bald" else _shade(skin, 0.6)
        d.line(
            (ex - er * 1.5, eye_y - er * 1.5, ex + er * 1.5, eye_y - er * 1.7 + side * er * 0.2),
            fill=brow,
            width=max(2, int(er * traits.brow)),
        )
    # Nose and mouth.
    nose = traits.nose * s
    d.line(
        (cx, eye_y + er, cx - nose * 0.2, eye_y + nose + er),
        fill=_shade(skin, 0.75),
        width=max(2, int(s * 0.005)),
    )
    nw = nose * traits.nose_width * 1.4 + nose * 0.1
    d.line(
        (cx - nw, eye_y + nose + er, cx + nw, eye_y + nose + er),
        fill=_shade(skin, 0.75),
        width=max(2, int(s * 0.005)),
    )
    mouth_y = cy + fh * 0.45
    mw = traits.mouth * s
    lip_colour = (176, 84, 88) if traits.feminine else (150, 70, 70)
    d.chord(
        (cx - mw, mouth_y - mw * traits.lips, cx + mw, mouth_y + mw * traits.lips),
        0,
        180,
        fill=lip_colour,
    )
    d.chord(
        (cx - mw * 0.9, mouth_y - mw * traits.lips * 0.6, cx + mw * 0.9, mouth_y + mw * 0.05),
        180,
        360,
        fill=_shade(lip_colour, 0.92),
    )
    # Age lines and texture: forehead lines and crow's feet.
    if traits.lines:
        lc = _shade(skin, 0.8)
        for k in range(3):
            ly = cy - fh * (0.55 + k * 0.09)
            d.arc(
                (cx - fw * 0.6, ly - fh * 0.05, cx + fw * 0.6, ly + fh * 0.12),
                200,
                340,
                fill=lc,
                width=max(1, int(s * 0.003)),
            )
        for side in (-1, 1):
            ex = cx + side * (gap + er * 1.6)
            for k in (-1, 0, 1):
                d.line(
                    (ex, eye_y + k * er * 0.3, ex + side * er * 0.7, eye_y + k * er * 0.6),
                    fill=lc,
                    width=max(1, int(s * 0.0025)),
                )
    if traits.freckles:
        rng = random.Random(7)
        for _ in range(40):
            fx = cx + rng.uniform(-0.6, 0.6) * fw
            fy = eye_y + rng.uniform(0.3, 1.5) * er
            r = max(1, s * 0.003)
            d.ellipse((fx - r, fy - r, fx + r, fy + r), fill=_shade(skin, 0.7))
    # Facial hair.
    beard_colour = _shade(hair, 0.9)
    if traits.beard == "beard":
        d.chord(
            (cx - fw * 0.95, cy + fh * 0.05, cx + fw * 0.95, cy + fh * 1.02),
            0,
            180,
            fill=beard_colour,
        )
        d.chord(
            (cx - mw, mouth_y - mw * 0.35, cx + mw, mouth_y + mw * 0.35), 0, 180, fill=(150, 70, 70)
        )
    elif traits.beard == "stubble":
        rng = random.Random(11)
        for _ in range(260):
            a = rng.uniform(-0.85, 0.85)
            bx = cx + a * fw
            by = cy + fh * rng.uniform(0.3, 0.95 - abs(a) * 0.3)
            r = max(1, s * 0.0022)
            d.ellipse((bx - r, by - r, bx + r, by + r), fill=_shade(beard_colour, 0.7))
    if traits.beard in ("beard", "moustache"):
        d.chord(
            (cx - mw * 1.1, mouth_y - mw * 0.7, cx + mw * 1.1, mouth_y + mw * 0.05),
            180,
            360,
            fill=beard_colour,
        )
    if traits.scar:
        side = -1 if traits.scar == "left" else 1  # the character's left is the viewer's right
        side = -side
        sx = cx + side * fw * 0.55
        d.line(
            (sx - fw * 0.12, eye_y + er * 1.2, sx + fw * 0.12, eye_y + er * 3.0),
            fill=(170, 80, 80),
            width=max(2, int(s * 0.006)),
        )
        items.append(
            {
                "name": "scar",
                "box": box(sx - fw * 0.15, eye_y + er * 1.1, sx + fw * 0.15, eye_y + er * 3.1),
            }
        )
    if traits.glasses:
        lw = max(2, int(s * 0.006))
        for side in (-1, 1):
            ex = cx + side * gap
            d.rounded_rectangle(
                (ex - er * 1.8, eye_y - er * 1.2, ex + er * 1.8, eye_y + er * 1.2),
                radius=int(er * 0.5),
                outline=(25, 25, 25),
                width=lw,
            )
        d.line(
            (cx - gap + er * 1.8, eye_y, cx + gap - er * 1.8, eye_y), fill=(25, 25, 25), width=lw
        )
        items.append(
            {
                "name": "glasses",
                "box": box(
                    cx - gap - er * 1.8, eye_y - er * 1.2, cx + gap + er * 1.8, eye_y + er * 1.2
                ),
            }
        )
    if traits.earring:
        ex, ey = cx - fw * 1.0, cy + fh * 0.25
        r = fw * 0.05
        d.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(230, 200, 90))
        items.append(
            {"name": "earring", "box": box(ex - r * 2, ey - r * 2, ex + r * 2, ey + r * 2)}
        )
    if traits.airpod:
        ax, ay = cx + fw * 1.0, cy + fh * 0.05
        r = fw * 0.08
        d.ellipse((ax - r, ay - r, ax + r, ay + r), fill=(250, 250, 250), outline=(200, 200, 200))
        d.rectangle((ax - r * 0.35, ay, ax + r * 0.35, ay + r * 2.4), fill=(250, 250, 250))
        items.append(
            {"name": "airpod", "box": box(ax - r * 1.5, ay - r * 1.5, ax + r * 1.5, ay + r * 2.8)}
        )
    if label:
        draw_label(d, width, height)
    return img, items


# What the offline generator drew rides along inside its own pictures, as a PNG text chunk: who
# (subject and seed) and what is where ({panel kind: [items]}). A crop keeps its source's text
# chunks (imaging.crop_panel), so a panel image still says what is on it; the offline sheet,
# editor and inspector read it back instead of asking the database.
RECORD_KEY = "turnaround-offline"


def encode_png(img: Image.Image, record: dict | None = None) -> bytes:
    info = None
    if record is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(RECORD_KEY, json.dumps(record, separators=(",", ":")))
    buf = io.BytesIO()
    # Level 1: the pictures are flat colour, so fast compression is nearly as small.
    img.save(buf, "PNG", compress_level=1, pnginfo=info)
    return buf.getvalue()


def read_record(data: bytes) -> dict:
    """The record an offline picture carries, or {} for any other picture."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            text = img.info.get(RECORD_KEY)
    except OSError:
        return {}
    if not isinstance(text, str):
        return {}
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


# The lines of our own prompts that say who the person is (prompts.py writes them). Casting
# portraits are drawn from the person and their marks; sheets add the wardrobe.
_PERSON_LINES = ("The person:", "Distinguishing marks")


def subject_from_prompt(prompt: str, *, wardrobe: bool = False) -> str:
    starts = (*_PERSON_LINES, "Wardrobe") if wardrobe else _PERSON_LINES
    parts = [
        line.split(":", 1)[1].strip()
        for line in prompt.splitlines()
        if line.startswith(starts) and ":" in line
    ]
    return "\n".join(p for p in parts if p) or prompt
