"""Prompt builders, one per stage. The exact text sent is stored on each Generation and shown."""

from __future__ import annotations

import re

from .layouts import LayoutPreset
from .models import Character

CASTING_STYLE = (
    "Photoreal studio headshot of a real, cast actor: natural skin texture with visible pores, "
    "fine lines and stubble where the person has them, soft key light, neutral grey backdrop, "
    "head and shoulders, looking into the lens, no retouching, no makeup glamour."
)


def casting_subject(character: Character) -> str:
    """Who is in the picture, without the style line: what the offline generator reads."""
    return "\n".join(
        part for part in (character.brief.strip(), character.distinguishing_marks.strip()) if part
    )


def casting_prompt(character: Character) -> str:
    parts = [CASTING_STYLE, f"The person: {character.brief.strip()}"]
    if character.distinguishing_marks.strip():
        parts.append(f"Distinguishing marks: {character.distinguishing_marks.strip()}")
    if character.wardrobe.strip():
        parts.append(f"Wearing: {character.wardrobe.strip()}")
    return "\n".join(parts)


def hand_prop_words(character: Character) -> list[str]:
    """The props named in hand_props, one entry per comma, semicolon or line."""
    return [p.strip().lower() for p in re.split(r"[,;\n]+", character.hand_props) if p.strip()]


def without_props(text: str, props: list[str]) -> str:
    """Drop every sentence or clause that mentions a hand prop, so none reaches the sheet."""
    if not props:
        return text.strip()
    keywords = {w for prop in props for w in re.findall(r"[a-z]{3,}", prop)} - PROP_STOPWORDS
    kept = []
    for clause in re.split(r"(?<=[.;!?])\s+|\n+", text):
        words = set(re.findall(r"[a-z]+", clause.lower()))
        if clause.strip() and not (words & keywords):
            kept.append(clause.strip())
    return " ".join(kept)


PROP_STOPWORDS = {"the", "and", "with", "his", "her", "their", "old", "small", "large", "big"}


def sheet_subject(character: Character) -> str:
    """Who is on the sheet (for the offline generator): brief, wardrobe and marks, no props."""
    props = hand_prop_words(character)
    return "\n".join(
        part
        for part in (
            without_props(character.brief, props),
            without_props(character.wardrobe, props),
            without_props(character.distinguishing_marks, props),
        )
        if part
    )


def sheet_prompt(character: Character, preset: LayoutPreset, rules: list[str]) -> str:
    """The Nano Banana Pro sheet prompt: fixed layout, the locked face, empty hands."""
    props = hand_prop_words(character)
    lines = [
        "Character turnaround sheet of the person in the reference image: keep their face, "
        "skin texture, age and proportions exactly.",
        preset.description,
        f"The person: {without_props(character.brief, props)}",
    ]
    wardrobe = without_props(character.wardrobe, props)
    if wardrobe:
        lines.append(f"Wardrobe, identical in every panel: {wardrobe}")
    marks = without_props(character.distinguishing_marks, props)
    if marks:
        lines.append(
            f"Distinguishing marks, visible wherever that side shows and sharp in the close-ups: {marks}"
        )
    lines.append("Both hands empty and relaxed: no props, nothing held.")
    lines.extend(rules_lines(rules))
    return "\n".join(lines)


def rules_lines(rules: list[str]) -> list[str]:
    if not rules:
        return []
    return ["Continuity rules (must hold in every panel):", *[f"- {rule}" for rule in rules]]


def edit_prompt(panel_kind: str, instruction: str, rules: list[str]) -> str:
    """Nano Banana Pro edit: change only what the note asks, keep the person and the framing."""
    lines = [
        f"Edit this {panel_kind.replace('_', ' ')} panel of a character turnaround sheet. "
        "The second image is the locked face of the same person: keep their identity exactly.",
        f"Fix: {instruction.strip()}",
        "Change only what the fix asks. Keep pose, framing, clothes, lighting and background identical.",
    ]
    lines.extend(rules_lines(rules))
    return "\n".join(lines)


def shot_prompt(prompt: str, rules_by_character: dict[str, list[str]]) -> str:
    lines = [prompt.strip()]
    for name, rules in rules_by_character.items():
        if rules:
            lines.append(
                f"{name} must match the reference images; continuity rules: "
                + "; ".join(rules)
                + "."
            )
    return "\n".join(lines)
