"""The character page and the casting stage: brief, cast, cull, approve, unlock."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from .. import selectors, services
from ..forms import BriefForm, CastForm, SheetForm, UnlockForm
from ..models import CastingCandidate, Character, Generation
from ..permissions import Action
from .common import Access, announces_change, login_required, project_access

# Typical seconds per stage, shown next to a pending card's elapsed time.
FRAGMENTS = {
    "reference-assets",
    "stage",
    "upscale-status",
    "casting",
    "brief-form",
    "sheets",
    "character-head",
    "history",
    "continuity",
    "locked-info",
}

TYPICAL_SECONDS = {"offline": 2, "recraft": 15, "gemini": 60, "seedance": 120}


def character_context(
    request: HttpRequest, access: Access, character: Character, **extra: object
) -> dict:
    candidates = list(selectors.candidates_for(character))
    reference_assets = (
        selectors.reference_assets_for(character) if character.locked_sheet_id else []
    )
    return {
        "project": access.project,
        "access": access,
        "character": character,
        "lc": character.locked_candidate,
        "candidates": candidates,
        "brief_form": extra.pop("brief_form", None) or BriefForm(instance=character),
        "cast_form": extra.pop("cast_form", None) or CastForm(),
        "unlock_form": extra.pop("unlock_form", None) or UnlockForm(),
        "sheet_options": list(selectors.sheet_options_for(character))
        if character.locked_candidate_id
        else [],
        "sheet_form": extra.pop("sheet_form", None) or SheetForm(),
        "locked_panels": selectors.locked_panels(character) if character.locked_sheet_id else [],
        "rules": list(character.rules.all()) if character.locked_candidate_id else [],
        "inspections": selectors.inspections_for(character) if character.locked_sheet_id else [],
        "reference_assets": reference_assets,
        "reference_assets_waiting": any(
            r.status in ("queued", "pending") for r in reference_assets
        ),
        "history": selectors.character_history(character),
        "spend": selectors.spend_by_stage(character) if access.can(Action.SEE_COSTS) else [],
        "typical_seconds": TYPICAL_SECONDS,
        **extra,
    }


def card_context(access: Access, character: Character, **extra: object) -> dict:
    """Just what one card needs. Pending cards poll every second, so this stays lean: the
    whole character context (every candidate, sheets, history, spend) is for full pages."""
    return {
        "project": access.project,
        "access": access,
        "character": character,
        "lc": character.locked_candidate,
        "typical_seconds": TYPICAL_SECONDS,
        **extra,
    }


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


# Fragments that poll: rendered from card_context, not the whole page's context.
LEAN_FRAGMENTS = {"upscale-status"}


def _load(request: HttpRequest, project_slug: str, character_slug: str) -> tuple[Access, Character]:
    access = project_access(request, project_slug)
    return access, selectors.character_for(access.project, character_slug)


# Pages that show live state are never cached: htmx changes them in place, so a cached copy is
# the page before those changes, and Back (e.g. from Compare) would show it.
@login_required
@never_cache
@require_GET
def character(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    fragment = request.GET.get("fragment", "")
    if request.htmx and fragment in LEAN_FRAGMENTS:
        return render(
            request, f"characters/character.html#{fragment}", card_context(access, character)
        )
    context = character_context(request, access, character)
    if request.htmx and fragment in FRAGMENTS:
        return render(request, f"characters/character.html#{fragment}", context)
    return render(request, "characters/character.html", context)


@login_required
@require_POST
@announces_change
def brief(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    access.require(Action.EDIT_BRIEF)
    # Unbound from the instance: ModelForm validation would write the new values onto it and
    # the service would then see nothing to change.
    form = BriefForm(request.POST)
    saved = False
    if form.is_valid():
        services.character_update_brief(character=character, user=request.user, **form.cleaned_data)
        saved = True
        if not request.htmx:
            messages.success(request, "Brief saved.")
            return redirect(character.get_absolute_url())
        form = BriefForm(instance=character)
    character.refresh_from_db()
    context = character_context(request, access, character, brief_form=form, brief_saved=saved)
    if request.htmx:
        return render(request, "characters/character.html#brief-form", context)
    return render(request, "characters/character.html", context)


@login_required
@require_POST
@announces_change
def cast(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    access.require(Action.GENERATE)
    form = CastForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            services.casting_start(
                character=character, user=request.user, count=form.cleaned_data["count"]
            )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            if not request.htmx:
                return redirect(character.get_absolute_url() + "#casting")
            form = CastForm()
    context = character_context(request, access, character, cast_form=form, cast_error=error)
    if request.htmx:
        return render(request, "characters/character.html#casting", context)
    if error:
        messages.error(request, error)
    return render(request, "characters/character.html", context)


@login_required
@never_cache
@require_GET
def candidate(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """One candidate card. Pending cards poll this: while nothing changed it answers 204 (htmx
    keeps the card, the browser ticks its elapsed time), so a poll costs a status check."""
    access = project_access(request, project_slug)
    status = polled_status(CastingCandidate, access, character_slug, pk)
    if unchanged_since_last_poll(request, status):
        return HttpResponse(status=204)
    character = selectors.character_for(access.project, character_slug)
    candidate = selectors.candidate_for(character, pk)
    context = card_context(access, character, candidate=candidate)
    if request.htmx:
        was_polling = request.GET.get("poll") == "1"
        response = render(request, "characters/character.html#candidate-card", context)
        if was_polling and candidate.generation.is_final:
            # Swap the final card in, then tell htmx to stop polling and refresh dependants.
            response = trigger_client_event(response, "candidate-finished", {"id": candidate.pk})
        return response
    return redirect(character.get_absolute_url() + f"#candidate-{candidate.pk}")


DECISIONS = {
    "shortlist": CastingCandidate.Decision.SHORTLISTED,
    "reject": CastingCandidate.Decision.REJECTED,
    "clear": CastingCandidate.Decision.PENDING,
}


def _card_or_redirect(
    request: HttpRequest,
    access: Access,
    character: Character,
    candidate: CastingCandidate,
    *,
    error: str = "",
    event: str = "",
) -> HttpResponse:
    if request.htmx:
        candidate = selectors.candidate_for(character, candidate.pk)
        context = card_context(access, character, candidate=candidate, card_error=error)
        response = render(request, "characters/character.html#candidate-card", context)
        if event:
            trigger_client_event(response, event, {"id": candidate.pk})
        return response
    if error:
        messages.error(request, error)
    return redirect(character.get_absolute_url() + f"#candidate-{candidate.pk}")


@login_required
@require_POST
@announces_change
def decide(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    candidate = selectors.candidate_for(character, pk)
    decision = DECISIONS.get(request.POST.get("decision", ""))
    error = ""
    if decision is None:
        error = "Choose shortlist, reject or clear."
    else:
        try:
            candidate = services.candidate_decide(
                candidate=candidate, user=request.user, decision=decision
            )
        except services.ServiceError as exc:
            error = str(exc)
    return _card_or_redirect(request, access, character, candidate, error=error)


@login_required
@require_POST
@announces_change
def approve(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    candidate = selectors.candidate_for(character, pk)
    try:
        services.candidate_approve(candidate=candidate, user=request.user)
    except services.ServiceError as exc:
        return _card_or_redirect(request, access, character, candidate, error=str(exc))
    if request.htmx:
        # The whole page changes stage: casting grid → locked face. Reload it in place.
        character = selectors.character_for(access.project, character.slug)
        response = render(
            request,
            "characters/character.html#stage",
            character_context(request, access, character),
        )
        return trigger_client_event(response, "face-locked", {"id": candidate.pk})
    messages.success(request, "Face locked. The 4K portrait is on its way.")
    return redirect(character.get_absolute_url())


@login_required
@require_POST
@announces_change
def unlock(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = _load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    form = UnlockForm(request.POST)
    error = ""
    unlocked = False
    if form.is_valid():
        try:
            character = services.character_unlock_face(
                character=character, user=request.user, reason=form.cleaned_data["reason"]
            )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            if not request.htmx:
                messages.success(request, "Face unlocked.")
                return redirect(character.get_absolute_url())
            form = UnlockForm()
            unlocked = True
    character = selectors.character_for(access.project, character.slug)
    context = character_context(request, access, character, unlock_form=form, unlock_error=error)
    if request.htmx:
        response = render(request, "characters/character.html#stage", context)
        if unlocked:
            # The stage badge and the history listen for this, as they do for face-locked.
            trigger_client_event(response, "face-unlocked", {"id": character.pk})
        return response
    if error:
        messages.error(request, error)
    return render(request, "characters/character.html", context)


@login_required
@require_POST
@announces_change
def retry(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.GENERATE)
    generation = (
        Generation.objects.filter(project=access.project, pk=pk)
        .select_related("project", "character")
        .first()
    )
    if generation is None:
        raise Http404("No such generation.")
    error = ""
    try:
        services.generation_retry(generation=generation, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
    character = generation.character
    candidate = CastingCandidate.objects.filter(generation=generation).first()
    if candidate is not None and character is not None:
        return _card_or_redirect(request, access, character, candidate, error=error)
    if error:
        messages.error(request, error)
    return redirect(
        character.get_absolute_url() if character else access.project.get_absolute_url()
    )


@login_required
@require_GET
def compare(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """Chosen candidates side by side at full size."""
    access, character = _load(request, project_slug, character_slug)
    ids = [int(i) for i in request.GET.getlist("c") if i.isdigit()][:8]
    candidates = [c for c in selectors.candidates_for(character) if c.pk in ids and c.image_id]
    if not ids:
        candidates = [
            c
            for c in selectors.candidates_for(character)
            if c.image_id and c.decision in ("shortlisted", "approved")
        ]
    return render(
        request,
        "characters/compare.html",
        {
            "project": access.project,
            "access": access,
            "character": character,
            "candidates": candidates,
        },
    )
