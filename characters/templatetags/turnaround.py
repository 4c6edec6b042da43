"""Small template helpers."""

import difflib

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def humanize_kind(kind: str) -> str:
    """'three_quarter_left' → 'Three quarter left'."""
    return kind.replace("_", " ").capitalize()


@register.filter
def getlist(querydict, key: str) -> list:
    return querydict.getlist(key) if hasattr(querydict, "getlist") else []


@register.filter
def timecode(seconds: float | None) -> str:
    """Seconds as a reviewer reads them: 2.4 -> "00:02.4", 75.25 -> "01:15.3"."""
    if seconds is None:
        return ""
    tenths = round(float(seconds) * 10)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes:02d}:{rest // 10:02d}.{rest % 10}"


BRIEF_LABELS = {
    "brief": "Brief",
    "wardrobe": "Wardrobe",
    "distinguishing_marks": "Distinguishing marks",
    "hand_props": "Hand props",
}


@register.filter
def brief_changes(changes: object) -> list[dict]:
    """An "edited brief" entry's {field: [before, after]} as labelled word diffs: each part is
    (op, text) with op "same", "del" or "ins"."""
    if not isinstance(changes, dict):
        return []
    out = []
    for field, pair in changes.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            continue
        before, after = (str(pair[0] or "").split(), str(pair[1] or "").split())
        parts: list[tuple[str, str]] = []
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        for op, a1, a2, b1, b2 in matcher.get_opcodes():
            if op == "equal":
                parts.append(("same", " ".join(before[a1:a2])))
            if op in ("delete", "replace"):
                parts.append(("del", " ".join(before[a1:a2])))
            if op in ("insert", "replace"):
                parts.append(("ins", " ".join(after[b1:b2])))
        out.append({"label": BRIEF_LABELS.get(field, field), "parts": parts})
    return out


@register.filter
def revision_parts(rev: object) -> list[tuple[str, str]]:
    """A panel revision's caption as labelled parts: the note it fixed, the instruction added
    to it (a fix sends "note\ninstruction"), or the revision it reverted to."""
    text = (getattr(rev, "instruction", "") or "").strip()
    if getattr(rev, "number", 0) == 1:
        return [("Source", "as it came off the sheet")]
    if getattr(rev, "reverted_from_id", None):
        return [("Revert", text or "to an earlier revision")]
    note, _, instruction = text.partition("\n")
    parts = [("Note", note.strip() or "—")]
    if instruction.strip():
        parts.append(("Instruction", instruction.strip()))
    return parts
