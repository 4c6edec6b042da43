"""Prompt builders, one per stage. The exact text sent is stored on each Generation and shown."""

from __future__ import annotations

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
