"""Shared service pieces: the refusal error, access checks, and the activity record."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from ..models import (
    Activity,
    Character,
    Membership,
    Project,
    Role,
)
from ..permissions import Action, Denied, role_allows

MAX_CANDIDATES = 8
MIN_CANDIDATES = 1


class ServiceError(Exception):
    """A request the product refuses, with the reason in words a producer understands."""


class BudgetExceeded(ServiceError):
    pass


# --- access ----------------------------------------------------------------------------------


def membership_role(*, project: Project, user: AbstractBaseUser | None) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def require(*, project: Project, user: AbstractBaseUser | None, action: Action) -> None:
    if not role_allows(membership_role(project=project, user=user), action):
        raise Denied("Your role on this project does not allow that.")


# --- activity --------------------------------------------------------------------------------


def activity_record(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    verb: str,
    target: object | None = None,
    character: Character | None = None,
    actor_name: str = "",
    **data: object,
) -> Activity:
    # A candidate or a sheet option: keep its image, so the history can show which one.
    image = getattr(target, "image_id", None)
    if image and "image" not in data:
        data["image"] = image
    return Activity.objects.create(
        project=project,
        character=character,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor_name
        or (actor.get_username() if actor is not None and actor.is_authenticated else "system"),
        verb=verb,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=getattr(target, "pk", None),
        data=data,
    )
