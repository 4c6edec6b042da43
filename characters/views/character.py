"""The character page: a shell of one fragment per stage, each rendered from a lean context.

templates/characters/character.html is the shell (head, stage, side); each stage has its own
template under templates/characters/character/ with its partials. A fragment is rendered from
FRAGMENTS[name], which builds only what that fragment shows. After a POST, a view answers with
its fragment and the fragments it changed as out-of-band swaps (`respond(..., oob=...)`), and
`announces_change` adds the history when an Activity was recorded: the page never re-fetches.
The one event left is `character-changed`, sent by the changes poller when *someone else*
changed the character (head, stage and history then fetch themselves) — see views/team.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .. import prompts, selectors, services
from ..forms import BriefForm, CastForm, SheetForm, UnlockForm
from ..layouts import get_preset
from ..models import Character, Generation
from ..permissions import Action
from .common import Access, login_required, project_access, remember_access
from .identity import cost_context, ordered_sheets, sheets_identity_context

# Typical seconds per provider, shown next to a pending card's elapsed time.

PAGE = "characters/character.html"
# Where each fragment's partial lives: the shell, or the stage's own template.
TEMPLATES = {
    "character-head": PAGE,
    "stage": PAGE,
    "history": PAGE,
    "casting": "characters/character/casting.html",
    "candidate-card": "characters/character/casting.html",
    "locked-info": "characters/character/locked_face.html",
    "upscale-status": "characters/character/locked_face.html",
    "sheets": "characters/character/sheets.html",
    "sheet-preview": "characters/character/sheets.html",
    "sheet-card": "characters/character/sheets.html",
    "sheet-form": "characters/character/sheets.html",
    "continuity": "characters/character/continuity.html",
    "reference-assets": "characters/character/references.html",
    "inspection-card": "characters/character/continuity.html",
    "brief-form": "characters/character/brief.html",
}


def load(request: HttpRequest, project_slug: str, character_slug: str) -> tuple[Access, Character]:
    """The request's access and the character: for a member, one query for both; anyone else
    (a guest, a superuser, no such character) goes the usual way, project first."""
    user = request.user
    if (
        getattr(request, "_turnaround_access", None) is None
        and user.is_authenticated
        and not user.is_superuser
    ):
        character = selectors.member_character(user, project_slug, character_slug)
        if character is not None and character.member_role:
            access = Access(project=character.project, role=character.member_role, user=user)
            remember_access(request, access)
            return access, character
    access = project_access(request, project_slug)
    return access, selectors.character_for(access.project, character_slug)


def base_context(access: Access, character: Character, **extra: object) -> dict:
    """What every fragment needs: the project, the request's access and the character. Cards
    (which poll) and the option/panel pages render from this alone."""
    return {
        "project": access.project,
        "access": access,
        "character": character,
        "lc": character.locked_candidate,
        **extra,
    }


# --- one context per fragment: only what it shows ----------------------------------------------


def head_context(access: Access, character: Character) -> dict:
    return {}


def casting_context(access: Access, character: Character) -> dict:
    return {"candidates": list(selectors.candidates_for(character)), "cast_form": CastForm()}


def locked_info_context(access: Access, character: Character) -> dict:
    return {"unlock_form": UnlockForm()}


def continuity_context(access: Access, character: Character) -> dict:
    if not character.locked_sheet_id:
        return {}
    return {
        "locked_panels": selectors.locked_panels(character),
        "rules": list(character.rules.all()),
        "inspections": selectors.inspections_for(character),
    }


def references_context(access: Access, character: Character) -> dict:
    rows = selectors.reference_assets_for(character) if character.locked_sheet_id else []
    return {
        "reference_assets": rows,
        "reference_assets_waiting": any(r.status in ("queued", "pending") for r in rows),
        "reference_assets_refused": any(r.status == "refused" for r in rows),
    }


def sheets_context(access: Access, character: Character) -> dict:
    options = list(selectors.sheet_options_for(character, panels=False))
    return {
        "sheet_options": options,
        "sheet_form": SheetForm(),
        **sheets_identity_context(access, character, options),
        **continuity_context(access, character),
        **references_context(access, character),
    }


def sheet_preview_context(access: Access, character: Character) -> dict:
    # Asked for when the form's preview is opened, so a sheet POST pays nothing for it.
    return {"sheet_preview": sheet_preview(character)}


def sheet_preview(character: Character) -> dict:
    """The sheet prompt as it will be sent, and what the prop filter takes out of the brief."""
    rules = list(character.rules.order_by("created_at", "id").values_list("text", flat=True))
    layout = get_preset(settings.TURNAROUND_SHEET_PRESET)
    return {
        "prompt": prompts.sheet_prompt(character, layout, rules),
        "removed": prompts.removed_props(character),
        "layout": layout.name,
    }


def stage_context(access: Access, character: Character) -> dict:
    if character.locked_candidate_id:
        return {**locked_info_context(access, character), **sheets_context(access, character)}
    return casting_context(access, character)


def brief_context(access: Access, character: Character) -> dict:
    return {"brief_form": BriefForm(instance=character)}


def history_context(access: Access, character: Character) -> dict:
    return {"history": list(selectors.character_history(character))}


def side_context(access: Access, character: Character) -> dict:
    spend = selectors.spend_by_stage(character) if access.can(Action.SEE_COSTS) else []
    return {
        **brief_context(access, character),
        **history_context(access, character),
        "spend": spend,
        **cost_context(access, character),
    }


FRAGMENTS: dict[str, Callable[[Access, Character], dict]] = {
    "character-head": head_context,
    "stage": stage_context,
    "casting": casting_context,
    "locked-info": locked_info_context,
    "upscale-status": head_context,  # polls every second: the base context is all it reads
    "sheets": sheets_context,
    "sheet-preview": sheet_preview_context,
    "continuity": continuity_context,
    "reference-assets": references_context,
    "brief-form": brief_context,
    "history": history_context,
}


def page_context(access: Access, character: Character, **extra: object) -> dict:
    return (
        base_context(
            access, character, **stage_context(access, character), **side_context(access, character)
        )
        | extra
    )


def fragment_html(
    request: HttpRequest, access: Access, character: Character, name: str, **extra: object
) -> str:
    context = base_context(access, character, **FRAGMENTS[name](access, character)) | extra
    return render_to_string(f"{TEMPLATES[name]}#{name}", context, request=request)


def respond(
    request: HttpRequest,
    access: Access,
    character: Character,
    name: str,
    *,
    oob: tuple[str, ...] = (),
    **extra: object,
) -> HttpResponse:
    """The fragment `name` (with `extra`, e.g. a bound form or an error), followed by each
    fragment in `oob` as an out-of-band swap: everything the change touched, in one answer."""
    parts = [fragment_html(request, access, character, name, **extra)]
    parts += [fragment_html(request, access, character, other, oob=other) for other in oob]
    return HttpResponse("".join(parts))


def render_page(
    request: HttpRequest, access: Access, character: Character, **extra: object
) -> HttpResponse:
    return render(request, PAGE, page_context(access, character, **extra))


def announces_change(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """After an htmx POST on the character page that recorded an Activity, append the fresh
    history as an out-of-band swap. Whether it recorded one is known in-process (services'
    recording_activity), so the only read is the character's history, which the page needs."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method != "POST" or not request.htmx:
            return view(request, *args, **kwargs)
        with services.recording_activity() as recorded:
            response = view(request, *args, **kwargs)
        slug = kwargs.get("character_slug")
        if recorded and response.status_code == 200 and slug and not response.streaming:
            access = project_access(request, kwargs["project_slug"])  # the view's, remembered
            history = list(selectors.character_history_by_slug(access.project, slug))
            if history:
                context = {
                    "project": access.project,
                    "access": access,
                    "character": {"slug": slug},
                    "history": history,
                    "oob": "history",
                }
                response.content += render_to_string(
                    f"{PAGE}#history", context, request=request
                ).encode()
        return response

    return wrapped


# --- card polling: shared by candidate, sheet and inspection cards -----------------------------


def polled_status(model: type, access: Access, character_slug: str, pk: int) -> str:
    """The status of the generation behind a polled card (candidate or sheet option), in one
    query that also scopes it to the project and character; 404 when there is no such card."""
    status = (
        model.objects.filter(
            pk=pk, character__project=access.project, character__slug=character_slug
        )
        .values_list("generation__status", flat=True)
        .first()
    )
    if status is None:
        raise Http404("No such card.")
    return status


def unchanged_since_last_poll(request: HttpRequest, status: str) -> bool:
    """A pending card's poll says which status it shows (`seen`); same status, nothing to send."""
    return (
        bool(request.htmx)
        and request.GET.get("poll") == "1"
        and request.GET.get("seen") == status
        and status not in Generation.FINAL
    )


def member_polled_status(
    request: HttpRequest, model: type, project_slug: str, pk: int, character_slug: str = ""
) -> str | None:
    """For a member's poll of a card: its generation's status, from one statement, before the
    project is even loaded, so an unchanged card is a 204 at the cost of that statement. None
    for anything else (not a poll, a guest, not a member, no such card): the caller then takes
    the ordinary path, which decides access and 404s."""
    if not (request.htmx and request.GET.get("poll") == "1" and request.GET.get("seen")):
        return None
    if not request.user.is_authenticated:
        return None
    return selectors.member_poll_status(
        model=model,
        user_id=request.user.pk,
        project_slug=project_slug,
        pk=pk,
        character_slug=character_slug,
    )


# --- the page ------------------------------------------------------------------------------------


# Pages that show live state are never cached: htmx changes them in place, so a cached copy is
# the page before those changes, and Back (e.g. from Compare) would show it.
@login_required
@never_cache
@require_GET
def character(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    fragment = request.GET.get("fragment", "")
    order = ordered_sheets(request, access, character)  # options by consistency, on request
    if request.htmx and fragment in FRAGMENTS:
        return respond(request, access, character, fragment, **order)
    if fragment == "sheet-preview":  # without JS, the preview link opens the page with it
        return render_page(request, access, character, sheet_preview=sheet_preview(character))
    return render_page(request, access, character, **order)


@login_required
@require_POST
def archive(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """Archive the character (it leaves the board and the shot form) or, with `restore`, bring
    it back. Nothing is deleted."""
    access, character = load(request, project_slug, character_slug)
    access.require(Action.EDIT_BRIEF)
    restore = bool(request.POST.get("restore"))
    services.character_archive(character=character, user=request.user, archived=not restore)
    if restore:
        messages.success(request, f"{character.name} is back on the board.")
        return redirect(character.get_absolute_url())
    messages.success(
        request, f"{character.name} is archived: off the board, under “Archived” to restore."
    )
    return redirect("board", project_slug)
