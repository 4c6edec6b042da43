"""The project's shot list: shots made from locked references, stale when a fix lands."""

from __future__ import annotations

import re

from django.contrib import messages
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from .. import services
from ..models import (
    Activity,
    Annotation,
    Character,
    FixBatch,
    Generation,
    Project,
    Shot,
    ShotCharacter,
    ShotNote,
    ShotRender,
)
from ..permissions import Action
from .character import member_polled_status, unchanged_since_last_poll
from .common import login_required, project_access
from .paid import paid_once

SHOTS_CHANGED = "shots-changed"


def shots_queryset(project):
    return (
        Shot.objects.filter(project=project)
        .select_related("generation", "video")
        .prefetch_related(
            Prefetch(
                "cast",
                queryset=ShotCharacter.objects.select_related("character").prefetch_related(
                    "character__reference_changes"
                ),
            ),
            Prefetch("renders", queryset=ShotRender.objects.select_related("generation", "video")),
            Prefetch("notes", queryset=ShotNote.objects.filter(parent__isnull=True)),
        )
        .order_by("number")
    )


def _rows(shots) -> list[dict]:
    return [{"shot": s, "stale": services.shot_staleness(s)} for s in shots]


def _context(access, **extra) -> dict:
    project = access.project
    shots = list(shots_queryset(project))
    ready = Character.objects.filter(
        project=project, locked_sheet__isnull=False, archived_at__isnull=True
    ).order_by("name")
    rows = _rows(shots)
    return {
        "project": project,
        "access": access,
        "rows": rows,
        "stale_count": sum(1 for r in rows if r["stale"]),
        "ready_characters": ready,
        "ratios": services.SHOT_RATIOS,
        "resolutions": services.SHOT_RESOLUTIONS,
        "changes_token": changes_token(project),
        **extra,
    }


@login_required
@require_http_methods(["GET", "POST"])
def shot_list(request: HttpRequest, project_slug: str) -> HttpResponse:
    access = project_access(request, project_slug)
    error = ""
    if request.method == "POST":
        access.require(Action.GENERATE)
        ids = [int(i) for i in request.POST.getlist("characters") if i.isdigit()]
        characters = list(Character.objects.filter(project=access.project, pk__in=ids))
        try:
            duration = int(request.POST.get("duration") or 5)
        except ValueError:
            duration = 0
        try:
            with paid_once(request):
                services.shot_create(
                    project=access.project,
                    user=request.user,
                    prompt=request.POST.get("prompt", ""),
                    characters=characters,
                    duration=duration,
                    ratio=request.POST.get("ratio", "16:9"),
                    resolution=request.POST.get("resolution", "720p"),
                )
        except services.ServiceError as exc:
            error = str(exc)
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("shots", project_slug)
    context = _context(access, shot_error=error, draft=request.POST if error else None)
    if request.htmx and request.method == "POST":
        return render(request, "characters/shots.html#shot-board", context)
    if request.htmx and request.GET.get("fragment") == "shot-list":
        return render(request, "characters/shots.html#shot-list", context)
    return render(request, "characters/shots.html", context)


def _shot(access, pk: int) -> Shot:
    shot = shots_queryset(access.project).filter(pk=pk).first()
    if shot is None:
        raise Http404("No such shot.")
    return shot


@login_required
@require_GET
def shot_card(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    """The shot's own page (video, every render, notes, before/after); its fragments for htmx,
    and the shots page's card for the card's own polling. A rendering shot's card polls for
    minutes: while its status is the one the card shows (`seen`) the answer is 204 and
    nothing is rendered."""
    status = member_polled_status(request, Shot, project_slug, pk)
    if status is not None and unchanged_since_last_poll(request, status):
        return HttpResponse(status=204)
    access = project_access(request, project_slug)
    if status is None and request.htmx and request.GET.get("poll") == "1":
        status = (
            Shot.objects.filter(project=access.project, pk=pk)
            .values_list("generation__status", flat=True)
            .first()
        )
        if unchanged_since_last_poll(request, status or ""):
            return HttpResponse(status=204)
    shot = _shot(access, pk)
    fragment = request.GET.get("fragment", "")
    if request.htmx and fragment == "player-media":
        current = next((r for r in shot.renders.all() if r.video_id), None)
        if request.GET.get("showing", "") == str(current.pk if current else ""):
            return HttpResponse(status=204)  # still the render on screen: leave the player be
    if request.htmx and fragment in SHOT_FRAGMENTS:
        return render(request, f"characters/shot.html#{fragment}", shot_context(access, shot))
    if request.htmx:
        context = _context(access, row={"shot": shot, "stale": services.shot_staleness(shot)})
        return render(request, "characters/shots.html#shot-card", context)
    return render(request, "characters/shot.html", shot_context(access, shot))


SHOT_FRAGMENTS = {"shot-head", "renders", "note-list", "shot-notes", "compare", "player-media"}


def shot_notes(shot: Shot) -> list[ShotNote]:
    """Top-level notes with replies, stills, their inspection, its findings and fix batches."""
    return list(
        ShotNote.objects.filter(shot=shot, parent__isnull=True)
        .select_related("author", "render", "still", "inspection__character")
        .prefetch_related(
            Prefetch("replies", queryset=ShotNote.objects.select_related("author")),
            Prefetch(
                "inspection__found_annotations",
                queryset=Annotation.objects.select_related(
                    "panel", "resolved_by_revision"
                ).order_by("panel__order", "id"),
            ),
            Prefetch(
                "inspection__fix_batches",
                queryset=FixBatch.objects.order_by("-created_at", "-id"),
            ),
        )
        .order_by("timecode", "created_at", "id")
    )


def _note_rows(shot: Shot, notes: list[ShotNote], renders: list[ShotRender]) -> list[dict]:
    """Each note with what the page shows under it: its findings, fix, and the render that
    came after the fix (the "after" of the before/after)."""
    rows = []
    for note in notes:
        inspection = note.inspection
        found = list(inspection.found_annotations.all()) if inspection else []
        batches = list(inspection.fix_batches.all()) if inspection else []
        batch = batches[0] if batches else None
        after = None
        if batch and batch.reference_revision and inspection.character_id:
            key = str(inspection.character_id)
            after = next(
                (
                    r
                    for r in renders
                    if r.video_id and int(r.revisions.get(key, 0)) >= batch.reference_revision
                ),
                None,
            )
        rows.append(
            {
                "note": note,
                "inspection": inspection,
                "found": found,
                "open_found": [a for a in found if a.status in ("open", "reopened")],
                "batch": batch,
                "fixing": batch is not None and batch.applied_at is None,
                "after": after,
                "before": note.render,
            }
        )
    return rows


def shot_context(access, shot: Shot, **extra) -> dict:
    renders = list(shot.renders.all())
    notes = shot_notes(shot)
    rows = _note_rows(shot, notes, renders)
    current = next((r for r in renders if r.video_id), None)
    compare = next(
        (r for r in rows if r["after"] and r["before"] and r["after"] != r["before"]), None
    )
    return {
        "project": access.project,
        "access": access,
        "shot": shot,
        "g": shot.generation,
        "stale": services.shot_staleness(shot),
        "renders": renders,
        "current": current,
        "note_rows": rows,
        "compare": compare,
        "changes_token": changes_token(access.project),
        **extra,
    }


def changes_token(project: Project) -> str:
    """What a live shots page compares: the newest activity and the shot renders that finished.
    One query; a render finishing records no activity, so the count of final renders counts."""
    row = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            last=Subquery(
                Activity.objects.filter(project=OuterRef("pk")).order_by("-pk").values("pk")[:1]
            ),
            done=Subquery(
                Generation.objects.filter(
                    project=OuterRef("pk"), stage="shot", status__in=Generation.FINAL
                )
                .values("project")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
        )
        .values("last", "done")
        .first()
    )
    if row is None:  # the project went away between the access check and this query
        return "0-0"
    return f"{row['last'] or 0}-{row['done'] or 0}"


@login_required
@require_GET
def shots_changes(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Has anything happened to the project's shots since `since`? 204 if not; otherwise a new
    poller and the `shots-changed` event, which the shots page and a shot page listen for."""
    access = project_access(request, project_slug)
    token = changes_token(access.project)
    if request.GET.get("since", "") == token:
        return HttpResponse(status=204)
    response = render(
        request,
        "characters/shots.html#shots-poller",
        {"project": access.project, "changes_token": token},
    )
    return trigger_client_event(response, SHOTS_CHANGED)


TIMECODE = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)\s*$")


def parse_timecode(value: str | None) -> float | None:
    """ "00:02.4", "2.4" or "1:02:03.5" as seconds; None when it is not a timecode."""
    match = TIMECODE.match(value or "")
    if not match:
        return None
    a, b, seconds = match.groups()
    hours, minutes = (a, b) if b is not None else (None, a)
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def notes_response(request, access, shot: Shot, **extra) -> HttpResponse:
    """The notes block after a change to it, or back to the shot page without htmx."""
    if request.htmx:
        shot = _shot(access, shot.pk)
        response = render(
            request, "characters/shot.html#shot-notes", shot_context(access, shot, **extra)
        )
        if extra.get("note_error") or extra.get("error"):
            return response
        # The rest of the page (stale note, before/after) may follow from it: tell it now.
        return trigger_client_event(response, SHOTS_CHANGED)
    for key in ("note_error", "error"):
        if extra.get(key):
            messages.error(request, extra[key])
    return redirect(reverse("shot", args=[access.project.slug, shot.pk]) + "#notes")


@login_required
@require_POST
def note_add(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.ANNOTATE)
    shot = _shot(access, pk)
    error = ""
    box = tuple(_float(request.POST.get(k)) for k in ("x", "y", "w", "h"))
    if all(v is None for v in box):
        box = None
    render_id = request.POST.get("render", "")
    chosen = (
        ShotRender.objects.filter(shot=shot, pk=int(render_id)).first()
        if render_id.isdigit()
        else None
    )
    upload = request.FILES.get("still")
    try:
        services.shot_note_create(
            shot=shot,
            access=access,
            body=request.POST.get("body", ""),
            timecode=parse_timecode(request.POST.get("at")),
            box=box,
            render=chosen,
            still=upload.read(services.MAX_STILL_BYTES + 1) if upload else None,
        )
    except services.ServiceError as exc:
        error = str(exc)
    return notes_response(
        request, access, shot, note_error=error, draft=request.POST if error else None
    )


def _note(shot: Shot, pk: int) -> ShotNote:
    note = ShotNote.objects.filter(shot=shot, pk=pk).select_related("shot__project").first()
    if note is None:
        raise Http404("No such note.")
    return note


@login_required
@require_POST
def note_reply(request: HttpRequest, project_slug: str, pk: int, note_pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.ANNOTATE)
    shot = _shot(access, pk)
    note = _note(shot, note_pk)
    error = ""
    try:
        services.shot_note_reply(parent=note, access=access, body=request.POST.get("body", ""))
    except services.ServiceError as exc:
        error = str(exc)
    return notes_response(request, access, shot, error=error)


@login_required
@require_POST
def note_status(request: HttpRequest, project_slug: str, pk: int, note_pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.DECIDE)
    shot = _shot(access, pk)
    note = _note(shot, note_pk)
    error = ""
    try:
        services.shot_note_set_status(
            note=note, user=request.user, resolved=request.POST.get("resolved") == "1"
        )
    except services.ServiceError as exc:
        error = str(exc)
    return notes_response(request, access, shot, error=error)


@login_required
@require_POST
def shot_rerender(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.GENERATE)
    shot = _shot(access, pk)
    error = ""
    try:
        with paid_once(request):
            services.shot_render(shot=shot, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
    if request.htmx and request.POST.get("from") == "page":
        shot = _shot(access, pk)
        response = render(
            request, "characters/shot.html#shot-head", shot_context(access, shot, head_error=error)
        )
        return response if error else trigger_client_event(response, SHOTS_CHANGED)
    if request.htmx:
        shot = _shot(access, pk)
        context = _context(
            access, row={"shot": shot, "stale": services.shot_staleness(shot)}, card_error=error
        )
        return render(request, "characters/shots.html#shot-card", context)
    if error:
        messages.error(request, error)
    return redirect("shots", project_slug)


@login_required
@require_POST
def rerender_stale(request: HttpRequest, project_slug: str) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.GENERATE)
    renders = services.shots_rerender_stale(project=access.project, user=request.user)
    if request.htmx:
        return render(
            request, "characters/shots.html#shot-board", _context(access, rerendered=len(renders))
        )
    messages.success(
        request, f"Re-rendering {len(renders)} stale shot(s) with the current references."
    )
    return redirect("shots", project_slug)
