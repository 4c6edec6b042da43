"""Who may do what on a project, decided in one place.

An Access is a person's standing on one project: a member's role, or a guest's share link (its
permission and the name they gave). Views build it once per request (views.common.project_access)
and pass it to the services that guests can use; services called with a member's `user` build it
from the membership. Either way the same `can()` answers, so a page and a service cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser

from .models import Membership, Project, Role, ShareLink
from .permissions import Action, Denied, role_allows

GUEST_NAME_MAX = 80
# The roles a request's user object has been found to hold, by project id. The user object lives
# for one request, so a service asked by the view that just read the role does not read it again.
ROLES_SEEN = "_turnaround_roles"


def remember_role(user: AbstractBaseUser, project: Project, role: str | None) -> None:
    roles = getattr(user, ROLES_SEEN, None)
    if roles is None:
        roles = {}
        setattr(user, ROLES_SEEN, roles)
    roles[project.pk] = role


@dataclass(frozen=True)
class Access:
    project: Project
    role: str | None
    share: str | None = None  # a guest's link permission: "view" or "comment"
    guest_name: str = ""
    link: ShareLink | None = None
    user: AbstractBaseUser | None = None  # the member acting, None for a guest

    @classmethod
    def of_member(cls, *, project: Project, user: AbstractBaseUser | None) -> Access:
        """The access a signed-in user has through their membership (owner for a superuser)."""
        if user is None or not user.is_authenticated:
            return cls(project=project, role=None)
        if user.is_superuser:
            return cls(project=project, role=Role.OWNER, user=user)
        known = getattr(user, ROLES_SEEN, {})
        if project.pk in known:  # the view already read it for this request
            return cls(project=project, role=known[project.pk], user=user)
        role = (
            Membership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
        return cls(project=project, role=role, user=user)

    @classmethod
    def of_guest(cls, *, project: Project, link: ShareLink, guest_name: str = "") -> Access:
        return cls(
            project=project,
            role=None,
            share=link.permission,
            guest_name=(guest_name or "").strip()[:GUEST_NAME_MAX],
            link=link,
        )

    @property
    def is_guest(self) -> bool:
        return self.role is None and self.share is not None

    def can(self, action: Action | str) -> bool:
        action = Action(action)
        if self.role is not None:
            return role_allows(self.role, action)
        if self.share is None:
            return False
        if action == Action.VIEW:
            return True
        if action == Action.ANNOTATE:
            return self.share == ShareLink.Permission.COMMENT
        if action == Action.SEE_COSTS:
            return self.project.show_costs_to_guests
        return False

    def require(self, action: Action) -> None:
        if not self.can(action):
            if self.is_guest:
                raise Denied("This share link does not allow that.")
            raise Denied("Your role on this project does not allow that.")

    @cached_property
    def perms(self) -> dict[str, bool]:
        # Templates read access.perms.<action> many times per page (once per card): work it
        # out once per request. cached_property writes to __dict__, so a frozen dataclass is fine.
        return {a.value: self.can(a) for a in Action}

    @property
    def actor(self) -> AbstractBaseUser | None:
        """Who to record in Activity as the acting user (None for a guest)."""
        return None if self.is_guest else self.user

    @property
    def actor_name(self) -> str:
        """How a guest appears in Activity: always marked as a guest. Empty for a member (the
        activity record takes the member's username)."""
        if not self.is_guest:
            return ""
        return f"{self.guest_name or 'Guest'} (guest)"
