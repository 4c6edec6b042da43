"""Continuity on the locked sheet: annotate panels, inspect, fix at the source, revert, rules."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from .. import selectors, services
from ..models import Annotation, Character, ContinuityRule, Generation, PanelRevision
from ..permissions import Action
from .character import announces_change, base_context, load, respond
from .common import login_required, project_access
from .paid import paid_once
from .shots import _note, _shot, notes_response


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def panel_context(request: HttpRequest, access, character, panel, **extra) -> dict:
    scores = selectors.panel_identity_scores(panel)
    return {
        "project": access.project,
        "access": access,
        "character": character,
        "panel": panel,
        "annotations": selectors.panel_annotations(panel),
        "revisions": selectors.panel_revisions(panel),
        "fixes": selectors.pending_fixes(panel),
        "rules": services.character_rules(character),
        "identity_scores": scores,
        "identity_score": scores.get(panel.current_revision_id),
        **extra,
    }


def _panel_response(
    request, access, character, panel, *, fragment: str = "annotations", **extra
) -> HttpResponse:
    context = panel_context(request, access, character, panel, **extra)
    if request.htmx:
        return render(request, f"characters/panel.html#{fragment}", context)
    error = extra.get("annotation_error") or extra.get("error")
    if error:
        messages.error(request, error)
    return redirect("panel", access.project.slug, character.slug, panel.pk)


@login_required
@require_GET
def panel(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    item = selectors.panel_for(character, pk)
    context = panel_context(request, access, character, item)
    if (
        request.htmx
        and request.GET.get("watch") == "fix"
        and not any(not f.is_final for f in context["fixes"])
    ):
        # The fix landed (or failed): the panel image and its history changed, so reload.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    if request.htmx and request.GET.get("fragment") in {"annotations", "revisions"}:
        return render(request, f"characters/panel.html#{request.GET['fragment']}", context)
    return render(request, "characters/panel.html", context)


@login_required
@require_POST
def annotate(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.ANNOTATE)
    item = selectors.panel_for(character, pk)
    error = ""
    try:
        services.annotation_create(
            panel=item,
            access=access,
            body=request.POST.get("body", ""),
            kind=request.POST.get("kind", "note"),
            x=_float(request.POST.get("x")),
            y=_float(request.POST.get("y")),
            w=_float(request.POST.get("w")),
            h=_float(request.POST.get("h")),
        )
    except services.ServiceError as exc:
        error = str(exc)
    return _panel_response(
        request,
        access,
        character,
        item,
        annotation_error=error,
        draft=request.POST if error else None,
    )


def _annotation(character, pk: int) -> Annotation:
    annotation = (
        Annotation.objects.filter(panel__sheet__character=character, pk=pk)
        .select_related("panel__sheet__character__project", "panel__current_revision")
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation.")
    return annotation


@login_required
@require_POST
def reply(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.ANNOTATE)
    annotation = _annotation(character, pk)
    error = ""
    try:
        services.annotation_reply(
            parent=annotation, access=access, body=request.POST.get("body", "")
        )
    except services.ServiceError as exc:
        error = str(exc)
    return _panel_response(
        request, access, character, annotation.panel, reply_error=error, reply_to=annotation.pk
    )


@login_required
@require_POST
def annotation_status(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    annotation = _annotation(character, pk)
    error = ""
    try:
        services.annotation_set_status(
            annotation=annotation, user=request.user, resolved=request.POST.get("resolved") == "1"
        )
    except services.ServiceError as exc:
        error = str(exc)
    return _panel_response(request, access, character, annotation.panel, error=error)


@login_required
@require_POST
def fix(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    annotation = _annotation(character, pk)
    error = ""
    try:
        with paid_once(request):
            services.panel_fix_request(
                annotation=annotation,
                user=request.user,
                instruction=request.POST.get("instruction", ""),
            )
    except services.ServiceError as exc:
        error = str(exc)
    return _panel_response(request, access, character, annotation.panel, error=error)


@login_required
@require_POST
def revert(request: HttpRequest, project_slug: str, character_slug: str, pk: int) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    revision = (
        PanelRevision.objects.filter(panel__sheet__character=character, pk=pk)
        .select_related("panel__sheet__character")
        .first()
    )
    if revision is None:
        raise Http404("No such revision.")
    panel_obj = selectors.panel_for(character, revision.panel_id)
    error = ""
    try:
        services.panel_revert(panel=panel_obj, revision=revision, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
    panel_obj = selectors.panel_for(character, revision.panel_id)
    if request.htmx and not error:
        # The panel image itself changed: reload the page in place.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return _panel_response(request, access, character, panel_obj, fragment="revisions", error=error)


@login_required
@require_POST
@announces_change
def rule_add(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    source = None
    if request.POST.get("annotation"):
        source = (
            _annotation(character, int(request.POST["annotation"]))
            if request.POST["annotation"].isdigit()
            else None
        )
    error = ""
    try:
        services.rule_create(
            character=character, user=request.user, text=request.POST.get("text", ""), source=source
        )
    except services.ServiceError as exc:
        error = str(exc)
    if source is not None:
        return _panel_response(request, access, character, source.panel, rule_error=error)
    return _sheets_or_redirect(request, access, character, rule_error=error)


@login_required
@require_POST
@announces_change
def rule_remove(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.DECIDE)
    rule = ContinuityRule.objects.filter(character=character, pk=pk).first()
    if rule is None:
        raise Http404("No such rule.")
    services.rule_delete(rule=rule, user=request.user)
    return _sheets_or_redirect(request, access, character)


def _sheets_or_redirect(request, access, character, **extra) -> HttpResponse:
    if request.htmx:
        character = selectors.character_for(access.project, character.slug)
        return respond(request, access, character, "continuity", **extra)
    for value in extra.values():
        if value:
            messages.error(request, value)
    return redirect(character.get_absolute_url() + "#continuity")


@login_required
@require_POST
@announces_change
def inspect(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.GENERATE)
    error = ""
    try:
        with paid_once(request):
            services.inspect_start(
                character=character,
                user=request.user,
                description=request.POST.get("description", ""),
            )
    except services.ServiceError as exc:
        error = str(exc)
    return _sheets_or_redirect(request, access, character, inspect_error=error)


@login_required
@require_GET
def inspection(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    """One inspection's card, polled while it runs."""
    access, character = load(request, project_slug, character_slug)
    generation = selectors.inspections(
        Generation.objects.filter(character=character, pk=pk)
    ).first()
    if generation is None:
        raise Http404("No such inspection.")
    context = base_context(access, character, inspection=generation)
    response = render(request, "characters/character/continuity.html#inspection-card", context)
    if generation.is_final and not generation.fixing:
        # The panels' open-annotation counts changed (findings, or a fix everywhere landed):
        # the continuity block refreshes itself.
        trigger_client_event(response, "inspection-finished", {"id": generation.pk})
    return response


# --- from a shot note: trace to source; an inspection's findings: fix everywhere, dismiss ----


@login_required
@require_POST
def note_trace(request: HttpRequest, project_slug: str, pk: int, note_pk: int) -> HttpResponse:
    """Trace to source: the inspect stage looks for what the note describes on the sheet."""
    access = project_access(request, project_slug)
    access.require(Action.GENERATE)
    shot = _shot(access, pk)
    note = _note(shot, note_pk)
    character = None
    if request.POST.get("character", "").isdigit():
        character = Character.objects.filter(
            project=access.project, pk=int(request.POST["character"])
        ).first()
    error = ""
    try:
        with paid_once(request):
            services.shot_note_trace(note=note, user=request.user, character=character)
    except services.ServiceError as exc:
        error = str(exc)
    return notes_response(request, access, shot, error=error)


def _inspection(access, pk: int) -> Generation:
    inspection = (
        Generation.objects.filter(project=access.project, stage="inspect", pk=pk)
        .select_related("character__project")
        .first()
    )
    if inspection is None:
        raise Http404("No such inspection.")
    return inspection


def _after_findings(request, access, inspection: Generation, error: str) -> HttpResponse:
    """Back where the action came from: a shot page's notes, or the character's continuity."""
    shot_pk = request.POST.get("shot", "")
    if shot_pk.isdigit():
        return notes_response(request, access, _shot(access, int(shot_pk)), error=error)
    character = selectors.character_for(access.project, inspection.character.slug)
    return _sheets_or_redirect(request, access, character, inspect_error=error)


@login_required
@require_POST
@announces_change
def fix_everywhere(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    """One action fixes every panel an inspection flagged: one edit per panel, in parallel."""
    access = project_access(request, project_slug)
    access.require(Action.DECIDE)
    inspection = _inspection(access, pk)
    error = ""
    try:
        with paid_once(request):
            services.inspection_fix_everywhere(
                inspection=inspection,
                user=request.user,
                instruction=request.POST.get("instruction", ""),
            )
    except services.ServiceError as exc:
        error = str(exc)
    return _after_findings(request, access, inspection, error)


@login_required
@require_POST
@announces_change
def dismiss_findings(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    """One action dismisses every open finding of an inspection, with the reason."""
    access = project_access(request, project_slug)
    access.require(Action.DECIDE)
    inspection = _inspection(access, pk)
    error = ""
    try:
        services.inspection_dismiss(
            inspection=inspection, user=request.user, reason=request.POST.get("reason", "")
        )
    except services.ServiceError as exc:
        error = str(exc)
    return _after_findings(request, access, inspection, error)
