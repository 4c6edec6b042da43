"""Small template helpers."""

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
