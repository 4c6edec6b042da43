"""Offline turnaround sheets: the sheet, a panel edit and an inspection, drawn with Pillow.

Long because the sheet, the edit and the inspector share one record of what was drawn where.

The same traits that draw the offline casting portrait (traits_from) draw a stylised full-body
figure per angle here, so every panel shows the same skin, hair and clothes, and the close-ups
reuse draw_portrait. Accessories the brief names are drawn where they would be visible and
recorded per panel (boxes 0-1 relative to the panel), which is what lets the offline inspector
point at them and the offline editor take them out again.
"""

from __future__ import annotations

import dataclasses
import io
import re

from PIL import Image, ImageDraw

from ..layouts import LayoutPreset, PanelSpec, get_preset, spec_for_kind
from .base import (
    EditSpec,
    GeneratedAsset,
    GenerationRequest,
    GeneratorError,
    InspectSpec,
    SheetSpec,
)
from .offline_portrait import (
    ACCESSORY_WORDS,
    HAIR_COLOURS,
    OFFLINE_LABEL,
    SKIN_TONES,
    FaceTraits,
    _shade,
    accessory_text,
    draw_label,
    draw_portrait,
    encode_png,
    read_record,
    subject_from_prompt,
    traits_from,
)

DEFAULT_SHEET_SIZE = (5504, 3072)  # Nano Banana Pro's 16:9 at 4K
MAX_SHEET_SIDE = 6336
MIN_SHEET_SIDE = 120
SHEET_BACKGROUND = (229, 229, 227)  # gutters and margins
PANEL_BACKGROUND = (204, 205, 203)  # a step darker than the gutters, so the panels read apart
PANEL_BORDER = (150, 151, 149)
CLOTHES = (60, 70, 90)  # the portrait's shoulders, so close-ups and full-body views agree
TROUSERS = (42, 45, 52)
SHOES = (28, 28, 30)
ACCESSORIES = ("airpod", "earring", "glasses", "scar")
DISPLAY_NAMES = {"airpod": "AirPod", "earring": "earring", "glasses": "glasses", "scar": "scar"}
REMOVE_WORDS = {"remove", "removed", "without", "delete", "erase", "drop", "take", "no"}


def accessory_names(text: str) -> list[str]:
    """The accessories a piece of text names, in ACCESSORIES order ("AirPods" -> "airpod")."""
    words = set(re.findall(r"[a-z]+", accessory_text(text)))
    return [name for name in ACCESSORIES if words & set(ACCESSORY_WORDS.get(name, (name,)))]


def _present(traits: FaceTraits) -> dict[str, str]:
    """Accessory name -> the side of the head it is on ("left", "right" or "both").

    Sides are the character's own: draw_portrait puts the AirPod in the left ear and the
    earring in the right, and the scar where the brief says.
    """
    sides = {"airpod": "left", "earring": "right", "glasses": "both", "scar": traits.scar}
    return {name: sides[name] for name in ACCESSORIES if getattr(traits, name)}


def visible_accessories(traits: FaceTraits, spec: PanelSpec) -> set[str]:
    """What a camera at this panel's angle sees: nothing of the face from behind, one side in
    a three-quarter or profile view (positive angles show the character's left)."""
    present = _present(traits)
    if spec.framing != "full" or spec.angle == 0:
        return set(present)
    if abs(spec.angle) >= 135:
        return set()
    shown = "left" if spec.angle > 0 else "right"
    return {name for name, side in present.items() if side in (shown, "both")}


def _without(traits: FaceTraits, hide: set[str]) -> FaceTraits:
    changes: dict = {name: False for name in hide if name in ("airpod", "earring", "glasses")}
    if "scar" in hide:
        changes["scar"] = ""
    return dataclasses.replace(traits, **changes) if changes else traits


def _rel(box: tuple[float, float, float, float], width: int, height: int) -> list[float]:
    x0, y0, x1, y1 = box
    return [
        round(x0 / width, 4),
        round(y0 / height, 4),
        round((x1 - x0) / width, 4),
        round((y1 - y0) / height, 4),
    ]


def _label(img: Image.Image) -> None:
    """The offline label along the panel's bottom edge, sized so it fits a narrow panel."""
    width, height = img.size
    # draw_label sizes its text from the height it is given; a strip no taller than ~3.4x the
    # width keeps "OFFLINE PREVIEW" inside a tall, narrow full-body panel.
    strip_h = min(height, int(width * 3.4))
    strip = img.crop((0, height - strip_h, width, height))
    draw_label(ImageDraw.Draw(strip), width, strip_h)
    img.paste(strip, (0, height - strip_h))


def _draw_figure(
    img: Image.Image, traits: FaceTraits, spec: PanelSpec, show: set[str]
) -> list[dict]:
    """A standing, empty-handed figure seen from spec.angle; returns the accessories drawn."""
    width, height = img.size
    d = ImageDraw.Draw(img)
    skin = SKIN_TONES[traits.skin]
    hair = HAIR_COLOURS[traits.hair]
    # Figure height: tall panels are limited by their width, wide ones by their height.
    fig_h = min(height * 0.84, width * 0.9 / 0.3)
    u = fig_h / 8  # the head is one eighth of the figure
    top = height * 0.04 + (height * 0.84 - fig_h) / 2
    cx = width / 2
    angle = spec.angle
    back = abs(angle) >= 135
    profile = not back and abs(angle) >= 70
    three_q = not back and not profile and angle != 0
    facing = (
        -1 if angle > 0 else 1
    )  # showing the left side means the nose points to the viewer's left
    # How wide the body reads from this angle.
    k = 0.5 if profile else 0.8 if three_q else 1.0
    line = max(1, round(u * 0.04))
    items: list[dict] = []

    head_cy = top + 0.5 * u
    hrx, hry = 0.36 * u, 0.5 * u
    head = (cx - hrx, head_cy - hry, cx + hrx, head_cy + hry)

    # Long hair and ponytails fall behind the body, so they go first.
    if traits.hair_style == "long":
        d.rounded_rectangle(
            (cx - hrx * 1.25, head_cy - hry * 1.05, cx + hrx * 1.25, top + 2.1 * u),
            radius=int(hrx),
            fill=_shade(hair, 0.92),
        )
    elif traits.hair_style == "ponytail":
        px = cx - facing * hrx * 1.0 if (profile or three_q) else cx
        d.ellipse((px - 0.2 * u, head_cy - 0.1 * u, px + 0.2 * u, head_cy + 0.95 * u), fill=hair)

    # Legs, shoes, torso, arms, hands (empty: props never reach the sheet).
    hip_y, foot_y = top + 3.9 * u, top + 7.6 * u
    leg_w = 0.5 * u * (0.9 if profile else 1.0)
    if profile:
        for off, shade in ((0.12, 0.8), (-0.12, 1.0)):
            lx = cx + facing * off * u
            d.rectangle(
                (lx - leg_w / 2, hip_y, lx + leg_w / 2, foot_y), fill=_shade(TROUSERS, shade)
            )
            d.ellipse(
                (
                    lx - leg_w / 2 + facing * 0.2 * u - 0.15 * u,
                    foot_y - 0.15 * u,
                    lx + leg_w / 2 + facing * 0.2 * u + 0.15 * u,
                    foot_y + 0.3 * u,
                ),
                fill=SHOES,
            )
    else:
        for side in (-1, 1):
            lx = cx + side * 0.32 * u * k
            d.rectangle((lx - leg_w / 2 * k, hip_y, lx + leg_w / 2 * k, foot_y), fill=TROUSERS)
            d.ellipse(
                (lx - 0.32 * u * k, foot_y - 0.12 * u, lx + 0.32 * u * k, foot_y + 0.3 * u),
                fill=SHOES,
            )
    shoulder_y = top + 1.25 * u
    d.rectangle(
        (cx - 0.13 * u, top + 0.85 * u, cx + 0.13 * u, shoulder_y + 0.1 * u), fill=_shade(skin, 0.9)
    )
    d.polygon(
        [
            (cx - 0.95 * u * k, shoulder_y + 0.1 * u),
            (cx - 0.8 * u * k, shoulder_y),
            (cx + 0.8 * u * k, shoulder_y),
            (cx + 0.95 * u * k, shoulder_y + 0.1 * u),
            (cx + 0.7 * u * k, hip_y + 0.3 * u),
            (cx - 0.7 * u * k, hip_y + 0.3 * u),
        ],
        fill=CLOTHES,
    )
    arm_w = 0.26 * u
    arm_xs = [cx + facing * 0.05 * u] if profile else [cx - 1.0 * u * k, cx + 1.0 * u * k]
    for ax in arm_xs:
        d.rounded_rectangle(
            (ax - arm_w / 2, shoulder_y + 0.05 * u, ax + arm_w / 2, top + 3.9 * u),
            radius=int(arm_w / 2),
            fill=_shade(CLOTHES, 0.85),
        )
        d.ellipse(
            (ax - 0.14 * u, top + 3.8 * u, ax + 0.14 * u, top + 4.25 * u), fill=_shade(skin, 0.95)
        )

    # Head.
    d.ellipse(head, fill=skin)

    def ear_x(side: str) -> float | None:
        """Where the character's `side` ear shows on screen, or None when it is hidden."""
        if back:
            return None
        if angle == 0:
            return cx + (hrx if side == "left" else -hrx)
        shown = "left" if angle > 0 else "right"
        if side != shown:
            return None
        return cx - facing * (0.05 * u if profile else 0.26 * u)

    ear_r = 0.09 * u
    if back:
        for side in (-1, 1):
            ex = cx + side * hrx
            d.ellipse(
                (ex - ear_r, head_cy - ear_r * 1.3, ex + ear_r, head_cy + ear_r * 1.3),
                fill=_shade(skin, 0.92),
            )
    else:
        for side in ("left", "right"):
            ex = ear_x(side)
            if ex is not None:
                d.ellipse(
                    (ex - ear_r, head_cy - ear_r * 1.3, ex + ear_r, head_cy + ear_r * 1.3),
                    fill=_shade(skin, 0.92),
                )

    # Hair on top; seen from behind it covers the head.
    if traits.hair_style != "bald":
        if back:
            d.ellipse(
                (head[0] - 0.03 * u, head[1] - 0.04 * u, head[2] + 0.03 * u, head[3] - 0.12 * u),
                fill=hair,
            )
        else:
            d.chord(
                (head[0] - 0.03 * u, head[1] - 0.05 * u, head[2] + 0.03 * u, head_cy + 0.15 * u),
                180,
                360,
                fill=hair,
            )
            if profile or three_q:
                # The back of the head is hair too.
                bx = cx - facing * hrx * 0.55
                d.ellipse(
                    (bx - hrx * 0.6, head[1] - 0.03 * u, bx + hrx * 0.6, head_cy + 0.25 * u),
                    fill=hair,
                )
        if traits.hair_style == "curly":
            for i in range(9):
                a = -1 + i / 4
                r = 0.1 * u
                px, py = cx + a * hrx, head[1] + abs(a) * 0.25 * u
                d.ellipse((px - r, py - r, px + r, py + r), fill=hair)

    # Face.
    eye_y = head_cy - 0.02 * u
    er = 0.045 * u
    eye_xs: list[float] = []
    if not back:
        iris = (30, 30, 30)
        if angle == 0:
            eye_xs = [cx - 0.14 * u, cx + 0.14 * u]
            nose_x = cx
        elif three_q:
            eye_xs = [cx + facing * 0.02 * u, cx + facing * 0.24 * u]
            nose_x = cx + facing * 0.3 * u
        else:
            eye_xs = [cx + facing * 0.24 * u]
            nose_x = cx + facing * 0.38 * u
            d.polygon(
                [
                    (cx + facing * 0.33 * u, eye_y),
                    (nose_x + facing * 0.06 * u, eye_y + 0.16 * u),
                    (cx + facing * 0.33 * u, eye_y + 0.18 * u),
                ],
                fill=skin,
            )
        for ex in eye_xs:
            d.ellipse((ex - er, eye_y - er, ex + er, eye_y + er), fill=iris)
        d.line(
            (nose_x, eye_y + 0.05 * u, nose_x, eye_y + 0.16 * u),
            fill=_shade(skin, 0.75),
            width=line,
        )
        mouth_x = cx if angle == 0 else cx + facing * (0.18 if three_q else 0.28) * u
        mw = 0.1 * u if angle == 0 else 0.06 * u
        d.line(
            (mouth_x - mw, head_cy + 0.27 * u, mouth_x + mw, head_cy + 0.27 * u),
            fill=(150, 70, 70),
            width=line * 2,
        )
        if traits.beard in ("beard", "stubble"):
            colour = _shade(hair, 0.9 if traits.beard == "beard" else 0.6)
            bx = cx if angle == 0 else cx + facing * 0.12 * u
            d.chord(
                (bx - hrx * 0.8 * k, head_cy + 0.05 * u, bx + hrx * 0.8 * k, head[3] + 0.02 * u),
                0,
                180,
                fill=colour,
            )

    # Accessories, only where this angle shows them.
    if "glasses" in show and eye_xs:
        gw = max(line, round(u * 0.025))
        for ex in eye_xs:
            d.rectangle(
                (ex - er * 2, eye_y - er * 1.6, ex + er * 2, eye_y + er * 1.6),
                outline=(25, 25, 25),
                width=gw,
            )
        gx0, gx1 = min(eye_xs) - er * 2, max(eye_xs) + er * 2
        if profile:
            gx1 = max(gx1, cx + 0.05 * u) if facing < 0 else gx1
            gx0 = min(gx0, cx - 0.05 * u) if facing > 0 else gx0
            d.line(
                (cx - facing * 0.05 * u, eye_y, eye_xs[0] - facing * er * 2, eye_y),
                fill=(25, 25, 25),
                width=gw,
            )
        items.append({"name": "glasses", "box": (gx0, eye_y - er * 1.8, gx1, eye_y + er * 1.8)})
    if "scar" in show and eye_xs:
        # On the scarred cheek: the viewer's right for a left scar, seen from the front.
        sx = (
            cx + (0.2 * u if traits.scar == "left" else -0.2 * u)
            if angle == 0
            else cx + facing * 0.1 * u
        )
        d.line(
            (sx - 0.04 * u, eye_y + 0.08 * u, sx + 0.04 * u, eye_y + 0.26 * u),
            fill=(170, 80, 80),
            width=line * 2,
        )
        items.append(
            {
                "name": "scar",
                "box": (sx - 0.07 * u, eye_y + 0.05 * u, sx + 0.07 * u, eye_y + 0.29 * u),
            }
        )
    if "airpod" in show and (ax := ear_x("left")) is not None:
        r = 0.075 * u
        ay = head_cy - 0.02 * u
        d.ellipse((ax - r, ay - r, ax + r, ay + r), fill=(250, 250, 250), outline=(185, 185, 185))
        d.rectangle((ax - r * 0.35, ay, ax + r * 0.35, ay + r * 2.4), fill=(250, 250, 250))
        items.append(
            {"name": "airpod", "box": (ax - r * 1.6, ay - r * 1.6, ax + r * 1.6, ay + r * 2.9)}
        )
    if "earring" in show and (ex_ := ear_x("right")) is not None:
        r = 0.04 * u
        ey = head_cy + ear_r * 1.5
        d.ellipse((ex_ - r, ey - r, ex_ + r, ey + r), fill=(230, 200, 90))
        items.append({"name": "earring", "box": (ex_ - r * 2, ey - r * 2, ex_ + r * 2, ey + r * 2)})
    for item in items:
        item["box"] = _rel(item["box"], width, height)
    return items


def draw_panel(
    traits: FaceTraits,
    spec: PanelSpec,
    width: int,
    height: int,
    *,
    hide: set[str] | frozenset[str] = frozenset(),
    label: bool = True,
) -> tuple[Image.Image, list[dict]]:
    """One panel at width x height: its picture and the accessories drawn (boxes 0-1)."""
    show = visible_accessories(traits, spec) - set(hide)
    if spec.framing == "full":
        img = Image.new("RGB", (width, height), PANEL_BACKGROUND)
        items = _draw_figure(img, traits, spec, show)
    else:
        # Close-ups are the casting portrait on the sheet's neutral ground; a mid close-up is
        # the same portrait with the face smaller, so more of the chest shows.
        drawn = _without(traits, set(ACCESSORIES) - show)
        drawn = dataclasses.replace(drawn, background=PANEL_BACKGROUND)
        if spec.framing == "mid":
            drawn = dataclasses.replace(drawn, face_width=traits.face_width * 0.55)
        img, items = draw_portrait(drawn, width, height, label=False)
    border = max(2, round(min(width, height) * 0.004))
    ImageDraw.Draw(img).rectangle((0, 0, width - 1, height - 1), outline=PANEL_BORDER, width=border)
    if label:
        _label(img)
    return img, items


def pixel_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int]:
    """A nominal fraction box as whole pixels (x, y, w, h); neighbours share their edges."""
    fx, fy, fw, fh = box
    x0, y0 = round(fx * width), round(fy * height)
    return x0, y0, round((fx + fw) * width) - x0, round((fy + fh) * height) - y0


def draw_sheet(
    traits: FaceTraits, preset: LayoutPreset, width: int, height: int
) -> tuple[Image.Image, list[dict], list[dict]]:
    """The whole sheet: image, the panel boxes drawn (pixels) and every item with its panel."""
    sheet = Image.new("RGB", (width, height), SHEET_BACKGROUND)
    panels: list[dict] = []
    items: list[dict] = []
    for spec in preset.panels:
        x, y, w, h = pixel_box(spec.box, width, height)
        img, drawn = draw_panel(traits, spec, w, h)
        sheet.paste(img, (x, y))
        panels.append({"kind": spec.kind, "label": spec.label, "x": x, "y": y, "w": w, "h": h})
        items.extend({"name": i["name"], "panel": spec.kind, "box": i["box"]} for i in drawn)
    return sheet, panels, items


def items_by_panel(items: list[dict]) -> dict[str, list[dict]]:
    """Regroup a sheet's item list the way the inspector takes it: {panel kind: [items]}."""
    grouped: dict[str, list[dict]] = {}
    for item in items:
        grouped.setdefault(item["panel"], []).append({"name": item["name"], "box": item["box"]})
    return grouped


def _sheet_size(request: GenerationRequest) -> tuple[int, int]:
    width = request.width or DEFAULT_SHEET_SIZE[0]
    height = request.height or DEFAULT_SHEET_SIZE[1]
    if min(width, height) < MIN_SHEET_SIDE:
        raise GeneratorError("The requested sheet is too small to hold its panels.", permanent=True)
    scale = min(1.0, MAX_SHEET_SIDE / max(width, height))
    return int(width * scale), int(height * scale)


def _person(request: GenerationRequest) -> tuple[str, int]:
    """Who to draw: the subject and seed recorded in the first reference that has them (the
    locked face for a sheet, the panel for an edit), else the sheet prompt and the request seed."""
    for ref in request.references:
        record = read_record(ref.data)
        if "seed" in record:
            subject = record.get("subject") or subject_from_prompt(request.prompt, wardrobe=True)
            if ref.label == "face":  # a portrait records the casting subject: add the wardrobe
                subject = subject_from_prompt(request.prompt, wardrobe=True)
            return subject, int(record["seed"])
    return subject_from_prompt(request.prompt, wardrobe=True), request.seed or 0


def sheet_traits(request: GenerationRequest, rules: tuple[str, ...] = ()) -> FaceTraits:
    """The locked face's person, minus what the continuity rules forbid.

    Every sheet option shows the face the team locked (its seed travels in the face picture);
    rules ("no earbuds") take accessories away, which is how a fix reaches every later sheet.
    """
    subject, seed = _person(request)
    traits = traits_from(subject, seed)
    forbidden = set(accessory_names(" ".join(rules)))
    return _without(traits, forbidden) if forbidden else traits


def _record(request: GenerationRequest, items: list[dict]) -> dict:
    subject, seed = _person(request)
    return {"subject": subject, "seed": seed, "panels": items_by_panel(items)}


def make_sheet(request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
    spec = request.spec if isinstance(request.spec, SheetSpec) else SheetSpec(preset="")
    try:
        preset = get_preset(spec.preset or None)
    except ValueError as exc:
        raise GeneratorError(str(exc), permanent=True) from exc
    width, height = _sheet_size(request)
    traits = sheet_traits(request, spec.rules)
    sheet, panels, items = draw_sheet(traits, preset, width, height)
    meta = {
        "preset": preset.name,
        "panels": panels,
        "items": items,
        "traits": traits.as_dict(),
        "label": OFFLINE_LABEL,
    }
    png = encode_png(sheet, _record(request, items))
    return [GeneratedAsset(png, "image/png", width, height, meta)], {"metadata": meta}


def make_edit(request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
    """Redraw one panel without the flagged accessories, at the size of the panel sent.

    The person comes from what the panel picture records (subject and seed), so the redrawn
    panel is the same person; the accessories to take out are the ones the instruction names.
    """
    if not request.references:
        raise GeneratorError("The panel edit needs the panel image.", permanent=True)
    if not isinstance(request.spec, EditSpec) or not request.spec.panel:
        raise GeneratorError("The panel edit needs to know which panel it is.", permanent=True)
    edit = request.spec
    kind = edit.panel
    try:
        spec = spec_for_kind(kind, edit.preset or None)
    except (KeyError, ValueError) as exc:
        raise GeneratorError(
            f"The offline editor cannot draw a {kind!r} panel.", permanent=True
        ) from exc
    try:
        with Image.open(io.BytesIO(request.references[0].data)) as ref:
            width, height = ref.size  # the header is enough: the panel is redrawn, not patched
    except OSError as exc:
        raise GeneratorError("The panel image could not be read.", permanent=True) from exc
    remove = set(accessory_names(edit.instruction))
    if not remove and REMOVE_WORDS & set(re.findall(r"[a-z]+", request.prompt.lower())):
        remove = set(accessory_names(request.prompt))
    traits = sheet_traits(request, edit.rules)
    img, drawn = draw_panel(traits, spec, width, height, hide=remove)
    items = [{"name": i["name"], "panel": kind, "box": i["box"]} for i in drawn]
    meta = {"panel": kind, "removed": sorted(remove), "items": items, "label": OFFLINE_LABEL}
    png = encode_png(img, _record(request, items))
    return [GeneratedAsset(png, "image/png", width, height, meta)], {"metadata": meta}


def recorded_items(request: GenerationRequest) -> dict[str, list[dict]]:
    """What each panel picture sent says is drawn on it: {panel kind: [items]}."""
    kinds = request.spec.panels if isinstance(request.spec, InspectSpec) else ()
    grouped: dict[str, list[dict]] = {}
    for i, ref in enumerate(request.references):
        kind = kinds[i] if i < len(kinds) else ref.label
        panels = read_record(ref.data).get("panels") or {}
        if kind in panels:
            grouped[kind] = list(panels[kind])
    return grouped


def _display(names: list[str] | set[str]) -> str:
    return ", ".join(DISPLAY_NAMES.get(n, n) for n in sorted(names))


def make_inspection(request: GenerationRequest) -> tuple[list[GeneratedAsset], dict]:
    """Point at the recorded items a reviewer's note names, panel by panel.

    The spec's `required` says what the brief asks for: `marks` (distinguishing marks, never
    flagged: a scar on the sheet is right even when a shot lost it) and `listed` (what the
    wardrobe or brief lists, flagged only when the note names nothing else: a note about an
    AirPod next to her glasses flags the AirPod, not the glasses).
    """
    recorded = recorded_items(request)
    spec = request.spec if isinstance(request.spec, InspectSpec) else InspectSpec(panels=())
    named = accessory_names(spec.note or request.prompt)
    marks = set(accessory_names(spec.required_marks))
    listed = set(accessory_names(spec.required_listed)) - marks
    look_for = set(named) - marks - listed
    because_listed = False
    if not look_for:
        look_for = set(named) & listed
        because_listed = bool(look_for)
    kept_back = sorted(set(named) - look_for)
    suffix = (
        " The wardrobe lists it: change the wardrobe too, or add a rule." if because_listed else ""
    )
    findings = [
        {
            "panel": kind,
            "box": list(item["box"]),
            "reason": f"The {DISPLAY_NAMES.get(item['name'], item['name'])} the note describes is visible in the {kind.replace('_', ' ')} panel.{suffix}",
        }
        for kind, items in recorded.items()
        for item in items
        if item["name"] in look_for
    ]
    if findings:
        text = f"Found {len(findings)} place(s) on the sheet matching the note."
    elif not named:
        text = (
            "The note names nothing the offline inspector can look for (it knows AirPods and "
            "other earbuds or headphones, earrings, glasses and scars)."
        )
    elif look_for:
        text = f"No {_display(look_for)} is visible on any panel of this sheet."
    else:
        text = "Nothing flagged."
    if kept_back:
        text += f" Not flagged, because the brief requires it: {_display(kept_back)}."
    return [], {
        "data": {"findings": findings},
        "text": text,
        "metadata": {"named": named, "not_flagged": kept_back},
    }
