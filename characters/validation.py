"""One gate for untrusted text and numbers: what people type, what query strings carry, and
what a provider says it charged.

- Text: no NUL byte (PostgreSQL cannot store one), stripped, at most LIMITS[field] characters
  (what its column holds and, for prompts, what the provider accepts).
- Numbers: finite and within their range (NaN compares false with everything, so a plain
  `x < 0` lets it through).
- Query parameters: a filter with a NUL loses it, and every value is cut to MAX_QUERY_VALUE.
- Provider costs: finite and within 0..TURNAROUND_MAX_GENERATION_COST_USD, else the estimate.

Services call `text()` and `number()` (their errors are ServiceErrors, shown in the form with
the typed text kept); `clean_query` runs for every request in UntrustedQueryMiddleware.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.http import HttpRequest, HttpResponse, QueryDict

# Characters per free-text field. Each fits its column; prompts fit their provider (Recraft
# takes 1,000 characters on V3 and 10,000 on V4; the casting prompt is cut to the model's).
LIMITS: dict[str, int] = {
    "project name": 120,
    "character name": 120,
    "brief": 4000,
    "wardrobe": 2000,
    "distinguishing marks": 2000,
    "hand props": 1000,
    "note": 4000,
    "reply": 4000,
    "comment": 4000,
    "rule": 300,
    "description": 1000,
    "instruction": 1000,
    "reason": 500,
    "shot prompt": 2000,
    "name": 80,
}
MAX_QUERY_VALUE = 200  # a filter, a page number, a fragment name: none is longer
NUL = "\x00"


class Invalid(ValueError):
    """Input the product refuses, with the reason in its own words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def text(
    value: object, *, field: str, required: str = "", limit: int | None = None, strip: bool = True
) -> str:
    """The typed text, stripped; Invalid when it holds a NUL, is over its limit, or is empty
    while `required` says what to write."""
    value = "" if value is None else str(value)
    if strip:
        value = value.strip()
    if NUL in value:
        raise Invalid(
            f"The {field} contains a character that cannot be saved (a NUL byte). "
            "Remove it and save again."
        )
    cap = limit if limit is not None else LIMITS[field]
    if len(value) > cap:
        raise Invalid(
            f"Keep the {field} under {cap:,} characters (it has {len(value):,}); "
            "your text is still here to shorten."
        )
    if required and not value:
        raise Invalid(required)
    return value


def fold_name(name: str) -> str:
    """The spelling every look-alike of a name shares: Django's UsernameField applies NFKC
    before the lookup (so `𝔳𝔦𝔠` and `ⓥⓘⓒ` log in as `vic`); case-folding also makes `VIC` the
    same name, which costs a real person nothing. Log-in limits count by it; guest names are
    compared by it."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def number(value: object, *, field: str, low: float, high: float) -> float | None:
    """A finite float within low..high; None when the value is missing; Invalid otherwise."""
    if value is None or value == "":
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Invalid(f"The {field} must be a number.") from None
    if not math.isfinite(result):
        raise Invalid(f"The {field} must be a finite number, not {value}.")
    if not low <= result <= high:
        raise Invalid(f"The {field} must lie between {low:g} and {high:g}.")
    return result


def clean_query(query: QueryDict) -> QueryDict | None:
    """The query with NUL bytes removed and each value cut to MAX_QUERY_VALUE characters, or
    None when nothing needed cleaning (the common case costs one scan)."""
    if not any(
        NUL in item or len(item) > MAX_QUERY_VALUE
        for key, values in query.lists()
        for item in (key, *values)
    ):
        return None
    cleaned = QueryDict(mutable=True)
    for key, values in query.lists():
        key = key.replace(NUL, "")[:MAX_QUERY_VALUE]
        cleaned.setlist(key, [v.replace(NUL, "")[:MAX_QUERY_VALUE] for v in values])
    cleaned._mutable = False
    return cleaned


def cost_problem(reported: object, *, maximum: Decimal) -> str:
    """Why a provider's reported cost cannot be kept ("" when it can)."""
    if not isinstance(reported, Decimal):
        try:
            reported = Decimal(str(reported))
        except (InvalidOperation, ValueError):
            return "is not a number"
    if not reported.is_finite():
        return "is not a finite number"
    if reported < 0:
        return "is negative"
    if reported > maximum:
        return f"is above the ${maximum} maximum (TURNAROUND_MAX_GENERATION_COST_USD)"
    return ""


class UntrustedQueryMiddleware:
    """Every query string through clean_query before a view reads it: a filter or page number
    with a NUL byte (which PostgreSQL cannot compare) or thousands of characters is cleaned,
    never a 500. Forms post their text, checked where it is kept (text())."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cleaned = clean_query(request.GET)
        if cleaned is not None:
            request.GET = cleaned
        return self.get_response(request)
