"""Is it the same person, and what did locking cost: the identity fragment and the CSV export."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import selectors, services
from ..permissions import Action
from .common import login_required, project_access

# A sheet still unmeasured this long after it finished will not be measured by polling harder.
GIVE_UP_POLLING = timedelta(minutes=10)


def sheets_identity_context(access, character, sheet_options: list) -> dict:
    """For the sheets fragment: each option's identity summary (cards show its consistency)."""
    return {"identity_by_option": services.options_identity(sheet_options)}


def ordered_sheets(request: HttpRequest, access, character) -> dict:
    """The page's sheet options in consistency order, when asked (`?order=consistency`)."""
    if request.GET.get("order") != "consistency" or not character.locked_candidate_id:
        return {}
    options = list(selectors.sheet_options_for(character, panels=False))
    summaries = services.options_identity(options)
    return {
        "sheet_options": selectors.order_by_consistency(options, summaries),
        "identity_by_option": summaries,
        "sheet_order": "consistency",
    }


def cost_context(access, character) -> dict:
    """What locking cost, this character's and the project's table, for those who see costs."""
    if not access.can(Action.SEE_COSTS):
        return {"cost_to_lock": None, "project_costs": None}
    costs = selectors.project_costs_to_lock(access.project)
    mine = next((row for row in costs["rows"] if row.character.pk == character.pk), None)
    return {"cost_to_lock": mine, "project_costs": costs}


def option_identity_context(access, character, option) -> dict:
    summary = services.option_identity(option)
    finished = option.generation.finished_at
    if summary["pending"] and finished and timezone.now() - finished > GIVE_UP_POLLING:
        summary = {**summary, "pending": 0, "stalled": True}
    return {
        "project": access.project,
        "access": access,
        "character": character,
        "option": option,
        "summary": summary,
    }


@login_required
@require_GET
def sheet_identity(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """One option's identity summary; the fragment polls this while panels are being measured."""
    access = project_access(request, project_slug)
    character = selectors.character_for(access.project, character_slug)
    option = selectors.sheet_option_for(character, pk)
    return render(
        request,
        "characters/identity.html#option-identity",
        option_identity_context(access, character, option),
    )


CSV_COLUMNS = (
    "character",
    "name",
    "locked",
    "first_cast_at",
    "locked_at",
    "minutes",
    "generations",
    "rerolls",
    "spend_usd",
)


@login_required
@require_GET
def cost_to_lock_csv(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Owners export what locking each character cost (one row each, then median and total)."""
    access = project_access(request, project_slug)
    access.require(Action.MANAGE)
    costs = selectors.project_costs_to_lock(access.project)
    stages = sorted({s for row in costs["rows"] for s in row.by_stage})
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{access.project.slug}-cost-to-lock.csv"'
    )
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow([*CSV_COLUMNS, *(f"{s}_generations" for s in stages)])
    for row in costs["rows"]:
        data = row.as_dict()
        writer.writerow(
            [_cell(data[c]) for c in CSV_COLUMNS] + [row.by_stage.get(s, 0) for s in stages]
        )
    for label in ("median", "total"):
        figures = costs[label]
        writer.writerow(
            [label, "", "", "", "", *(_cell(figures[k]) for k in CSV_COLUMNS[5:])]
            + [""] * len(stages)
        )
    return response


def _cell(value: object) -> str:
    """Spreadsheet-safe text: no cell starts with a formula character (names are user input)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text
