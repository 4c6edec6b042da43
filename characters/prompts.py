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


PROP_STOPWORDS = {"the", "and", "with", "his", "her", "their", "old", "small", "large", "big"}
# What separates the clauses of a description: commas, and the joining words of a list.
CLAUSE_SPLIT = re.compile(r"(,\s*|\s+(?:and|with|while)\s+)", re.IGNORECASE)


def _prop_nouns(props: list[str]) -> set[str]:
    """The head noun of each prop ("brass storm lantern" -> lantern, lanterns): a prop is named
    by its noun, so "coffee-coloured skin" stays when the prop is a coffee cup."""
    nouns = set()
    for prop in props:
        words = [w for w in re.findall(r"[a-z]{3,}", prop.lower()) if w not in PROP_STOPWORDS]
        if words:
            noun = words[-1]
            nouns |= {noun, noun + "s", noun + "es", noun.removesuffix("s")}
    return nouns


def split_props(text: str, props: list[str]) -> tuple[str, list[str]]:
    """The text without the clauses that name a hand prop, and the clauses removed.

    Only the prop's own clause goes: "Dark brown skin, short black beard, round glasses,
    holding a coffee cup" keeps the skin, the beard and the glasses.
    """
    if not props:
        return text.strip(), []
    nouns = _prop_nouns(props)
    kept_sentences, removed = [], []
    for sentence in re.split(r"(?<=[.;!?])\s+|\n+", text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if not set(re.findall(r"[a-z]+", sentence.lower())) & nouns:
            kept_sentences.append(sentence)
            continue
        end = sentence[-1] if sentence[-1] in ".;!?" else ""
        body = sentence[:-1] if end else sentence
        pieces = CLAUSE_SPLIT.split(body)
        clauses = [("", pieces[0]), *zip(pieces[1::2], pieces[2::2], strict=True)]
        kept: list[tuple[str, str]] = []
        for sep, clause in clauses:
            if set(re.findall(r"[a-z]+", clause.lower())) & nouns:
                removed.append(clause.strip())
            elif clause.strip():
                kept.append((sep, clause.strip()))
        if kept:
            first, *rest = kept
            rebuilt = first[1] + "".join(f"{sep}{clause}" for sep, clause in rest)
            kept_sentences.append(rebuilt[0].upper() + rebuilt[1:] + (end or ""))
    return " ".join(kept_sentences), removed


def without_props(text: str, props: list[str]) -> str:
    """The text with every clause that names a hand prop removed, so none reaches the sheet."""
    return split_props(text, props)[0]


def removed_props(character: Character) -> list[str]:
    """Every clause the prop filter takes out of the brief, wardrobe and marks, for the form."""
    props = hand_prop_words(character)
    return [
        clause
        for field in (character.brief, character.wardrobe, character.distinguishing_marks)
        for clause in split_props(field, props)[1]
    ]


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
