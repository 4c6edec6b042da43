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
