"""Turnaround sheet layouts, kept as data: which panels a sheet holds and where they sit.

A preset lists its panels in order, each with a nominal box as fractions of the sheet
(x, y, w, h), a human label, and the view it shows. The sheet prompt describes the layout in
the preset's own words, the offline generator draws it, and panel detection falls back to the
nominal boxes where it cannot find a panel on the image. Nothing else should assume how many
panels a sheet has: ask the preset.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PRESET = "six"


@dataclass(frozen=True)
class PanelSpec:
    kind: str  # stored on Panel.kind; unique within a preset
    label: str  # what people read on the page
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the sheet
    # What the panel shows. framing: "full" (head to toe), "face" or "mid" (chest up).
    # angle: degrees the character is turned from facing the camera; positive turns their
    # left side to the camera, so -90 is the right profile and 180 the back.
    framing: str
    angle: int = 0


@dataclass(frozen=True)
class LayoutPreset:
    name: str
    label: str
    panels: tuple[PanelSpec, ...]
    description: str  # the layout in words, as the sheet prompt puts it
    aspect_ratio: str = "16:9"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(p.kind for p in self.panels)

    def panel(self, kind: str) -> PanelSpec:
        for spec in self.panels:
            if spec.kind == kind:
                return spec
        raise KeyError(f"The {self.name} layout has no {kind!r} panel.")


class UnknownPreset(ValueError):
    """A layout name that is not in PRESETS. The message lists the ones that are."""


def _row(
    kinds: tuple[tuple[str, str, str, int], ...],
    *,
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    gutter: float,
) -> tuple[PanelSpec, ...]:
    """Panels side by side in equal widths between x0 and x1, with gutters between them."""
    width = (x1 - x0 - gutter * (len(kinds) - 1)) / len(kinds)
    return tuple(
        PanelSpec(
            kind,
            label,
            (round(x0 + i * (width + gutter), 4), y0, round(width, 4), y1 - y0),
            framing,
            angle,
        )
        for i, (kind, label, framing, angle) in enumerate(kinds)
    )


# Both presets share one frame: a 2% margin, a 1.2% gutter, full-body panels side by side on
# the left and the two close-ups stacked on the right, so the face reads large at 4K.
_MARGIN = 0.02
_GUTTER = 0.012
_CLOSEUPS_Y = (_MARGIN, round((1 - 2 * _MARGIN - _GUTTER) / 2, 4))


def _closeups(x: float) -> tuple[PanelSpec, ...]:
    y, h = _CLOSEUPS_Y
    w = round(1 - _MARGIN - x, 4)
    return (
        PanelSpec("face_closeup", "Face close-up", (x, y, w, h), "face"),
        PanelSpec("mid_closeup", "Mid close-up", (x, round(y + h + _GUTTER, 4), w, h), "mid"),
    )


SIX = LayoutPreset(
    name="six",
    label="Six panels",
    panels=_row(
        (
            ("front", "Front", "full", 0),
            ("three_quarter", "Three-quarter", "full", 45),
            ("profile", "Profile", "full", 90),
            ("back", "Back", "full", 180),
        ),
        x0=_MARGIN,
        x1=0.67,
        y0=_MARGIN,
        y1=1 - _MARGIN,
        gutter=_GUTTER,
    )
    + _closeups(0.682),
    description=(
        "One 16:9 character turnaround sheet on a plain neutral light-grey background, six "
        "panels separated by clear gutters. Left two-thirds: four full-body views of the same "
        "person, head to toe, standing in a relaxed neutral pose, left to right: front, "
        "three-quarter (turned to show their left side), left profile, back. Right third: a "
        "face close-up on top and a mid close-up (chest up) below, both facing the camera. "
        "Same person, same clothes, same lighting in every panel. Hands empty. No text."
    ),
)

EIGHT = LayoutPreset(
    name="eight",
    label="Eight panels",
    panels=_row(
        (
            ("front", "Front", "full", 0),
            ("three_quarter_left", "Three-quarter left", "full", 45),
            ("three_quarter_right", "Three-quarter right", "full", -45),
            ("profile_left", "Left profile", "full", 90),
            ("profile_right", "Right profile", "full", -90),
            ("back", "Back", "full", 180),
        ),
        x0=_MARGIN,
        x1=0.73,
        y0=_MARGIN,
        y1=1 - _MARGIN,
        gutter=_GUTTER,
    )
    + _closeups(0.742),
    description=(
        "One 16:9 character turnaround sheet on a plain neutral light-grey background, eight "
        "panels separated by clear gutters. Left three-quarters: six full-body views of the "
        "same person, head to toe, standing in a relaxed neutral pose, left to right: front, "
        "three-quarter left, three-quarter right, left profile, right profile, back. Right "
        "quarter: a face close-up on top and a mid close-up (chest up) below, both facing the "
        "camera. Same person, same clothes, same lighting in every panel. Hands empty. No text."
    ),
)

PRESETS: dict[str, LayoutPreset] = {p.name: p for p in (SIX, EIGHT)}


def get_preset(name: str | None = None) -> LayoutPreset:
    """The preset called `name` (the default when empty); UnknownPreset for any other name."""
    key = (name or DEFAULT_PRESET).strip().lower()
    try:
        return PRESETS[key]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise UnknownPreset(
            f"There is no sheet layout called {name!r}; choose one of: {known}."
        ) from None


def spec_for_kind(kind: str, preset: str | None = None) -> PanelSpec:
    """A panel kind's spec, from `preset` when given, else from the first preset that has it."""
    if preset:
        return get_preset(preset).panel(kind)
    for candidate in PRESETS.values():
        if kind in candidate.kinds:
            return candidate.panel(kind)
    raise KeyError(f"No sheet layout has a {kind!r} panel.")
