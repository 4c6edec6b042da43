"""What every project view starts with: find the project the user may see, and their role.

A person reaches a project either as a member (their role decides) or as a guest holding a
share grant for that project in their session (the link's permission decides). The link is
re-checked on every request, so revoking it or letting it expire ends access at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from studio.logs import redact

from ..access import Access, remember_role
from ..limits import client_ip
from ..models import Membership, Project, Role, ShareLink

log = logging.getLogger("turnaround.access")

SHARE_SESSION_KEY = "turnaround_shares"
SHARE_SALT = "turnaround.share-grant"


def log_refusal(request: HttpRequest, reason: str) -> None:
    """One line per refused request: who, from where, which page. Never the query string or a
    link token (/s/, /invite/ and /r/ paths are redacted)."""
    user = request.user
    who = user.get_username() if user.is_authenticated else "anonymous"
    path = redact(request.path)
    log.warning("refused %s: user=%s ip=%s path=%s", reason, who, client_ip(request), path)


def too_many(request: HttpRequest, reason: str, message: str) -> HttpResponse:
    """A refused burst (429): logged once, answered with the 429 page and what to do."""
    log_refusal(request, reason)
    return render(request, "429.html", {"message": message}, status=429)


def safe_back(request: HttpRequest, default: str) -> str:
    """Where a Cancel link goes: the posted `back` if it is a path on this site, else default."""
    back = request.POST.get("back") or request.GET.get("back") or ""
    if back.startswith("/") and url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        return back
    return default


# --- share grants ----------------------------------------------------------------------------


def share_grant_store(request: HttpRequest, *, link: ShareLink, guest_name: str = "") -> None:
    grants = dict(request.session.get(SHARE_SESSION_KEY, {}))
    grants[str(link.project_id)] = signing.dumps(
        {"l": link.pk, "p": link.project_id, "n": guest_name}, salt=SHARE_SALT
    )
    request.session[SHARE_SESSION_KEY] = grants


def _signed_grant(request: HttpRequest, project: Project) -> dict | None:
    """This session's signed grant for the project (link id, project id, guest name), if any."""
    raw = request.session.get(SHARE_SESSION_KEY, {}).get(str(project.pk))
    if not raw:
        return None
    try:
        grant = signing.loads(raw, salt=SHARE_SALT)
    except signing.BadSignature:
        return None
    return grant if grant.get("p") == project.pk else None


def share_grant(request: HttpRequest, project: Project) -> tuple[ShareLink, str] | None:
    """The live share link this session holds for the project, and the guest's name."""
    grant = _signed_grant(request, project)
    if grant is None:
        return None
    link = (
        ShareLink.objects.filter(pk=grant.get("l"), project=project, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )
    if link is None:
        return None
    link.project = project
    return link, grant.get("n", "")


class ShareLinkEnded(Exception):
    """The session's share link for this project was revoked or has expired: every page it used
    to open says so (410), not a bare 404 (EndedShareLinkMiddleware renders it)."""

    def __init__(self, link: ShareLink) -> None:
        super().__init__("share link ended")
        self.link = link


def ended_share_grant(request: HttpRequest, project: Project) -> ShareLink | None:
    """The revoked or expired link this session's grant for the project names, if any. Asked
    only once a live grant was not found, so a working page pays no query for it."""
    grant = _signed_grant(request, project)
    if grant is None:
        return None
    return ShareLink.objects.filter(pk=grant.get("l"), project=project).first()


def share_link_ended_page(request: HttpRequest, link: ShareLink) -> HttpResponse:
    """410, saying whether the link was revoked or has expired. An htmx request (a poll, a
    fragment) also gets HX-Refresh, so the whole page reloads into this message."""
    revoked = link.revoked_at is not None
    response = render(
        request,
        "characters/share_message.html",
        {
            "title": "This link was revoked" if revoked else "This link has expired",
            "message": (
                "The project's owner revoked this share link. Ask them for a new one."
                if revoked
                else f"This share link expired on {link.expires_at:%d %b %Y at %H:%M} UTC. "
                "Ask the project's owner for a new one."
            ),
        },
        status=410,
    )
    if getattr(request, "htmx", False):
        # django-htmx's HttpResponseClientRefresh is a 200; the status must stay 410.
        response["HX-Refresh"] = "true"
    response["Cache-Control"] = "no-store"
    return response


def has_any_share_grant(request: HttpRequest) -> bool:
    return bool(getattr(request, "session", None) and request.session.get(SHARE_SESSION_KEY))


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's login_required, except that a guest holding a share grant gets through too:
    project_access then decides, per project, what they may see."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated or has_any_share_grant(request):
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return wrapped


# --- access ----------------------------------------------------------------------------------


def project_access(request: HttpRequest, slug: str) -> Access:
    """The project and what this request may do there, in one query for a member (two for a
    guest). Anyone else gets a 404, never a 403: another project's existence is not revealed."""
    cached = getattr(request, "_turnaround_access", None)
    if cached is not None and cached.project.slug == slug:
        return cached  # worked out once per request (announces_change and the view both ask)
    access = _project_access(request, slug)
    request._turnaround_access = access
    return access


def remember_access(request: HttpRequest, access: Access) -> None:
    """Access worked out elsewhere (with the character, in one query) for the rest of the
    request: project_access answers with it."""
    if access.user is not None:
        remember_role(access.user, access.project, access.role)
    request._turnaround_access = access


def _project_access(request: HttpRequest, slug: str) -> Access:
    user = request.user
    projects = Project.objects.filter(slug=slug)
    if user.is_authenticated and not user.is_superuser:
        projects = projects.annotate(
            member_role=Subquery(
                Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
            )
        )
    project = projects.first()
    if project is not None:
        if user.is_authenticated and user.is_superuser:
            return Access(project=project, role=Role.OWNER, user=user)
        role = getattr(project, "member_role", None)
        if user.is_authenticated:
            remember_role(user, project, role)
        if role:
            return Access(project=project, role=role, user=user)
        grant = share_grant(request, project)
        if grant is not None:
            link, name = grant
            return Access.of_guest(project=project, link=link, guest_name=name)
        if not role and has_any_share_grant(request):
            ended = ended_share_grant(request, project)
            if ended is not None:
                log_refusal(request, "share link revoked or expired")
                raise ShareLinkEnded(ended)
    log_refusal(request, "no access to project")
    raise Http404("No such project.")


# The one event of the character page: someone else changed the character (see views/team.py).
CHANGED = "character-changed"
