"""What every project view starts with: find the project the user may see, and their role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django_htmx.http import trigger_client_event

from .. import selectors, services
from ..models import Project
from ..permissions import Action, Denied, role_allows


@dataclass(frozen=True)
class Access:
    project: Project
    role: str | None

    def can(self, action: Action | str) -> bool:
        return role_allows(self.role, Action(action))

    def require(self, action: Action) -> None:
        if not self.can(action):
            raise Denied("Your role on this project does not allow that.")

    @property
    def perms(self) -> dict[str, bool]:
        return {a.value: self.can(a) for a in Action}


def project_access(request: HttpRequest, slug: str) -> Access:
    project = selectors.project_for(request.user, slug)
    return Access(
        project=project, role=services.membership_role(project=project, user=request.user)
    )


CHANGED = "character-changed"


def announces_change(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """After an htmx POST, tell the page the character changed so its header and history
    fragments (which listen for `character-changed from:body`) refresh themselves."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if request.method == "POST" and request.htmx and response.status_code == 200:
            trigger_client_event(response, CHANGED)
        return response

    return wrapped
