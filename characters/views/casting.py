"""The casting stage: brief, cast, cull, approve, unlock the face. The page itself (its shell and
fragments) is views/character.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .. import selectors, services
from ..forms import BriefForm, CastForm, UnlockForm
from ..models import CastingCandidate, Character, Generation
from ..permissions import Action
from .character import (
    announces_change,
    base_context,
    load,
    member_polled_status,
    polled_status,
    render_page,
    respond,
    unchanged_since_last_poll,
)
from .common import Access, login_required, project_access, safe_back
from .paid import paid_once

# Approving or unlocking the face changes the stage: the head's badge changes with it.
STAGE_CHANGED = ("character-head",)


@login_required
@require_POST
@announces_change
def brief(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
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
        character.refresh_from_db()
        form = BriefForm(instance=character)
    if request.htmx:
        return respond(request, access, character, "brief-form", brief_form=form, brief_saved=saved)
    return render_page(request, access, character, brief_form=form)


@login_required
@require_POST
@announces_change
def cast(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.GENERATE)
    form = CastForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            with paid_once(request):
                services.casting_start(
                    character=character, user=request.user, count=form.cleaned_data["count"]
                )
        except services.ServiceError as exc:
            error = str(exc)
        else:
            if not request.htmx:
                return redirect(character.get_absolute_url() + "#casting")
            form = CastForm()
    if request.htmx:
        return respond(request, access, character, "casting", cast_form=form, cast_error=error)
    if error:
        messages.error(request, error)
    return render_page(request, access, character, cast_form=form, cast_error=error)


@login_required
@never_cache
@require_GET
def candidate(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """One candidate card. Pending cards poll this: while nothing changed it answers 204 (htmx
    keeps the card, the browser ticks its elapsed time), so a poll costs a status check. The
    final card replaces the polling one and stops the polling; nothing else on the page changes."""
    status = member_polled_status(request, CastingCandidate, project_slug, pk, character_slug)
    if status is not None and unchanged_since_last_poll(request, status):
        return HttpResponse(status=204)
    access = project_access(request, project_slug)
    if status is None:
        status = polled_status(CastingCandidate, access, character_slug, pk)
        if unchanged_since_last_poll(request, status):
            return HttpResponse(status=204)
    character = selectors.character_for(access.project, character_slug)
    candidate = selectors.candidate_for(character, pk)
    if request.htmx:
        return card(request, access, character, candidate)
    return redirect(character.get_absolute_url() + f"#candidate-{candidate.pk}")


def card(
    request: HttpRequest,
    access: Access,
    character: Character,
    candidate: CastingCandidate,
    **extra: object,
) -> HttpResponse:
    context = base_context(access, character, candidate=candidate, **extra)
    return render(request, "characters/character/casting.html#candidate-card", context)


DECISIONS = {
    "shortlist": CastingCandidate.Decision.SHORTLISTED,
    "reject": CastingCandidate.Decision.REJECTED,
    "clear": CastingCandidate.Decision.PENDING,
}


def card_or_redirect(
    request: HttpRequest,
    access: Access,
    character: Character,
    candidate: CastingCandidate,
    *,
    error: str = "",
) -> HttpResponse:
    if request.htmx:
        candidate = selectors.candidate_for(character, candidate.pk)
        return card(request, access, character, candidate, card_error=error)
    if error:
        messages.error(request, error)
    return redirect(character.get_absolute_url() + f"#candidate-{candidate.pk}")


@login_required
@require_POST
@announces_change
def decide(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
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
    return card_or_redirect(request, access, character, candidate, error=error)


@login_required
@require_POST
@announces_change
def approve(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    candidate = selectors.candidate_for(character, pk)
    if request.POST.get("confirm") != "1":
        # Approving starts a paid upscale: ask once. htmx gets the card with the question in
        # it (Enter accepts); a plain form (Compare, no JS) gets a page with the same question.
        if request.htmx:
            return card(request, access, character, candidate, confirm_approve=True)
        return confirm_page(
            request,
            access,
            character,
            question="Lock this face?",
            detail="It becomes the character's face, and the paid 4K upscale starts at once.",
            action=request.path,
            button="Yes, approve & lock",
            image=candidate.image_id,
            back=safe_back(request, character.get_absolute_url()),
        )
    try:
        services.candidate_approve(candidate=candidate, user=request.user)
    except services.ServiceError as exc:
        if request.htmx:
            # Usually another tab or person got there first: show the stage as it is now,
            # with the reason on top, rather than this card alone in the stage's place.
            character = selectors.character_for(access.project, character.slug)
            # The history too: what the other tab did is news here (the poller only reports
            # other people's changes, and this may be the same person in two tabs).
            return respond(
                request,
                access,
                character,
                "stage",
                oob=(*STAGE_CHANGED, "history"),
                stage_message=str(exc),
            )
        return card_or_redirect(request, access, character, candidate, error=str(exc))
    if request.htmx:
        # The stage changes: casting grid → locked face; the head's badge with it.
        character = selectors.character_for(access.project, character.slug)
        return respond(request, access, character, "stage", oob=STAGE_CHANGED)
    messages.success(request, "Face locked. The 4K portrait is on its way.")
    return redirect(character.get_absolute_url())


def confirm_page(
    request: HttpRequest, access: Access, character: Character, **question: object
) -> HttpResponse:
    """The one-question page a plain (non-htmx) form gets before a decision that costs money or
    changes the references: Enter (the focused button) accepts, Cancel goes back."""
    context = base_context(access, character, **question)
    return render(request, "characters/confirm.html", context)


@login_required
@require_POST
@announces_change
def unlock(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
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
    if request.htmx:
        return respond(
            request,
            access,
            character,
            "stage",
            oob=STAGE_CHANGED if unlocked else (),
            unlock_form=form,
            unlock_error=error,
        )
    if error:
        messages.error(request, error)
    return render_page(request, access, character, unlock_form=form, unlock_error=error)


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
        with paid_once(request):
            services.generation_retry(generation=generation, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
    character = generation.character
    candidate = CastingCandidate.objects.filter(generation=generation).first()
    if candidate is not None and character is not None:
        return card_or_redirect(request, access, character, candidate, error=error)
    if error:
        messages.error(request, error)
    return redirect(
        character.get_absolute_url() if character else access.project.get_absolute_url()
    )


@login_required
@require_GET
def compare(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """Chosen candidates side by side at full size."""
    access, character = load(request, project_slug, character_slug)
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
