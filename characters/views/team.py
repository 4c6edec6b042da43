"""Team review: votes on candidates and sheet options, comments, the activity feed, the cheap
"anything changed?" check that keeps open pages live, and a member's notifications."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required as member_login_required
from django.core.paginator import Paginator
from django.db.models import Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from .. import selectors, services
from ..models import Activity, Character, Notification
from ..permissions import Action
from .casting import card_or_redirect
from .character import announces_change, load
from .common import CHANGED, login_required, project_access
from .sheets import sheet_card

VOTE_VALUES = {"up": 1, "down": -1, "withdraw": 0}


def _cast_vote(request: HttpRequest, **target: object) -> str:
    """Cast the posted vote on the target (candidate= or sheet=); the refusal, if any, in words."""
    value = VOTE_VALUES.get(request.POST.get("value", ""))
    if value is None:
        return "Vote up or down."
    try:
        services.vote_cast(user=request.user, value=value, **target)
    except services.ServiceError as exc:
        return str(exc)
    return ""


@login_required
@require_POST
@announces_change
def candidate_vote(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.VOTE)
    candidate = selectors.candidate_for(character, pk)
    error = _cast_vote(request, candidate=candidate)
    return card_or_redirect(request, access, character, candidate, error=error)


@login_required
@require_POST
@announces_change
def sheet_vote(
    request: HttpRequest, project_slug: str, character_slug: str, pk: int
) -> HttpResponse:
    access, character = load(request, project_slug, character_slug)
    access.require(Action.VOTE)
    option = selectors.sheet_option_for(character, pk)
    error = _cast_vote(request, sheet=option)
    if request.htmx:
        option = selectors.sheet_option_for(character, pk)
        return sheet_card(request, access, character, option, card_error=error)
    return redirect(character.get_absolute_url() + f"#sheet-{option.pk}")


@login_required
@require_POST
@announces_change
def comment(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """A comment in the character's history, by a member or a guest whose link allows it."""
    access, character = load(request, project_slug, character_slug)
    access.require(Action.ANNOTATE)
    text = request.POST.get("text", "")
    error = ""
    try:
        services.character_comment(
            character=character,
            access=access,
            text=text,
        )
    except services.ServiceError as exc:
        error = str(exc)
    else:
        text = ""
    if request.htmx:
        context = {
            "project": access.project,
            "access": access,
            "character": character,
            "comment_text": text,
            "comment_error": error,
        }
        return render(request, "characters/team.html#comment-form", context)
    return redirect(character.get_absolute_url() + "#history")


@login_required
@require_GET
def changes(request: HttpRequest, project_slug: str, character_slug: str) -> HttpResponse:
    """Has anything happened to the character since activity `since`? 204 if not; otherwise a
    fresh poller (carrying the newest id) and, when someone else made the change, the one event
    the head, stage and history listen for. One query beyond access. (One's own changes reach
    the page in the answer to the POST, as out-of-band swaps.)"""
    access = project_access(request, project_slug)
    try:
        since = int(request.GET.get("since", "0"))
    except ValueError:
        since = 0
    user = request.user
    others = Q(activities__actor__isnull=True)
    if user.is_authenticated:
        others |= ~Q(activities__actor=user)
    row = (
        Character.objects.filter(project=access.project, slug=character_slug)
        .annotate(
            last=Max("activities__id"),
            last_other=Max("activities__id", filter=others),
        )
        .values("last", "last_other")
        .first()
    )
    if row is None:
        raise Http404("No such character.")
    last = row["last"] or 0
    if last <= since:
        return HttpResponse(status=204)
    response = render(
        request,
        "characters/team.html#changes-poller",
        {
            "project": access.project,
            "character": {"slug": character_slug},
            "since": last,
        },
    )
    if (row["last_other"] or 0) > since:
        trigger_client_event(response, CHANGED)
    return response


PAGE_SIZE = 30


@login_required
@require_GET
def activity(request: HttpRequest, project_slug: str) -> HttpResponse:
    """Every decision in the project, newest first, filterable by character and person."""
    access = project_access(request, project_slug)
    project = access.project
    entries = Activity.objects.filter(project=project).select_related("character", "actor")
    character_slug = request.GET.get("character", "")
    person = request.GET.get("person", "")
    if character_slug:
        entries = entries.filter(character__slug=character_slug)
    if person:
        entries = entries.filter(actor_name=person)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "characters/activity.html",
        {
            "project": project,
            "access": access,
            "page": page,
            "characters": Character.objects.filter(project=project).values("slug", "name"),
            "people": Activity.objects.filter(project=project)
            .order_by("actor_name")
            .values_list("actor_name", flat=True)
            .distinct(),
            "character_filter": character_slug,
            "person_filter": person,
            "query": query.urlencode(),
        },
    )


@member_login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """Your @mentions, newest first. Opening the list marks the ones shown as read."""
    page = Paginator(
        Notification.objects.filter(user=request.user).select_related(
            "activity__project", "activity__character"
        ),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    items = list(page.object_list)
    response = render(request, "characters/notifications.html", {"page": page, "items": items})
    services.notifications_mark_read(
        user=request.user, ids=[n.pk for n in items if n.read_at is None]
    )
    return response
