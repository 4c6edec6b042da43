"""The project's shot list: shots made from locked references, stale when a fix lands."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import services
from ..models import Character, Shot, ShotCharacter, ShotRender
from ..permissions import Action
from .common import login_required, project_access


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
        )
        .order_by("number")
    )


def _rows(shots) -> list[dict]:
    return [{"shot": s, "stale": services.shot_staleness(s)} for s in shots]


def _context(access, **extra) -> dict:
    project = access.project
    shots = list(shots_queryset(project))
    ready = Character.objects.filter(project=project, locked_sheet__isnull=False).order_by("name")
    rows = _rows(shots)
    return {
        "project": project,
        "access": access,
        "rows": rows,
        "stale_count": sum(1 for r in rows if r["stale"]),
        "ready_characters": ready,
        "ratios": services.SHOT_RATIOS,
        "resolutions": services.SHOT_RESOLUTIONS,
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
    return render(request, "characters/shots.html", context)


def _shot(access, pk: int) -> Shot:
    shot = shots_queryset(access.project).filter(pk=pk).first()
    if shot is None:
        raise Http404("No such shot.")
    return shot


@login_required
@require_GET
def shot_card(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    shot = _shot(access, pk)
    if not request.htmx:
        return redirect(f"/p/{project_slug}/shots/#shot-{shot.pk}")
    context = _context(access, row={"shot": shot, "stale": services.shot_staleness(shot)})
    return render(request, "characters/shots.html#shot-card", context)


@login_required
@require_POST
def shot_rerender(request: HttpRequest, project_slug: str, pk: int) -> HttpResponse:
    access = project_access(request, project_slug)
    access.require(Action.GENERATE)
    shot = _shot(access, pk)
    error = ""
    try:
        services.shot_render(shot=shot, user=request.user)
    except services.ServiceError as exc:
        error = str(exc)
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
