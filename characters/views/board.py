"""The project board: every character with its stage and locked face."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from .. import selectors, services
from ..forms import NewCharacterForm
from ..permissions import Action
from .common import login_required as project_login_required
from .common import project_access


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = list(selectors.projects_for(request.user))
    if len(projects) == 1:
        return redirect("board", projects[0].slug)
    return render(request, "characters/home.html", {"projects": projects})


@project_login_required
@never_cache  # live state, changed in place by htmx: Back must not show a stale copy
@require_http_methods(["GET", "POST"])
def board(request: HttpRequest, project_slug: str) -> HttpResponse:
    access = project_access(request, project_slug)
    form = NewCharacterForm(prefix="new")
    if request.method == "POST":
        access.require(Action.EDIT_BRIEF)
        form = NewCharacterForm(request.POST, prefix="new")
        if form.is_valid():
            try:
                character = services.character_create(
                    project=access.project, user=request.user, **form.cleaned_data
                )
            except services.ServiceError as exc:
                form.add_error("name", str(exc))
            else:
                if request.htmx:
                    return HttpResponseClientRedirect(character.get_absolute_url())
                return redirect(character.get_absolute_url())
    characters = list(selectors.board_characters(access.project))
    context = {
        "project": access.project,
        "access": access,
        "characters": [c for c in characters if c.archived_at is None],
        "archived": [c for c in characters if c.archived_at is not None],
        "form": form,
    }
    if request.htmx and request.method == "POST":
        return render(request, "characters/board.html#new-character", context)
    return render(request, "characters/board.html", context)
