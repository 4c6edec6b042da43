"""Shared service pieces: the refusal error, access checks, the activity record, and the one
function that advances a character's reference revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django_q.tasks import async_task

from ..access import Access
from ..models import (
    Activity,
    Character,
    Membership,
    PanelRevision,
    Project,
    ReferenceChange,
    Role,
)
from ..permissions import Action, Denied
from ..validation import Invalid, number, text

MAX_CANDIDATES = 8
MIN_CANDIDATES = 1


class ServiceError(Exception):
    """A request the product refuses, with the reason in words a producer understands."""


class BudgetExceeded(ServiceError):
    pass


# --- untrusted input (characters/validation.py, its refusals as ServiceErrors) ---------------


def clean_text(value: object, *, field: str, required: str = "", limit: int | None = None) -> str:
    """Typed text, stripped: no NUL byte, within its length limit, present when `required`
    says what to write. Refusals are ServiceErrors, so the form shows them with the text kept."""
    try:
        return text(value, field=field, required=required, limit=limit)
    except Invalid as exc:
        raise ServiceError(exc.message) from None


def clean_box(
    box: tuple[object, object, object, object], *, on: str
) -> tuple[float, float, float, float] | None:
    """A box relative to its picture (x, y, w, h finite numbers, with a size, inside 0-1), or
    None when it was not drawn; ServiceError in the product's words otherwise. NaN and Infinity
    are refused first: NaN slips through every comparison, "inside" included."""
    unbounded = float("inf")
    try:
        values = [
            number(v, field=f"box ({k})", low=-unbounded, high=unbounded)
            for k, v in zip("xywh", box, strict=True)
        ]
    except Invalid as exc:
        raise ServiceError(f"{exc.message} Draw the box on the {on} again.") from None
    if all(v is None for v in values):
        return None
    if any(v is None for v in values):
        raise ServiceError(f"The box is missing a side; draw it on the {on} again.")
    x, y, w, h = values  # type: ignore[misc]
    if w <= 0 or h <= 0:
        raise ServiceError(f"The box has no size; drag on the {on} to draw it.")
    if x < 0 or y < 0 or x + w > 1.0001 or y + h > 1.0001:
        raise ServiceError(f"The box must lie inside the {on}.")
    return x, y, w, h


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
    """A member's action: the same Access rules the pages use (characters/access.py)."""
    Access.of_member(project=project, user=user).require(action)


def access_for(*, project: Project, user: AbstractBaseUser | None, access: Access | None) -> Access:
    """The access a guest-capable service acts with: the one the view passed, else the member's."""
    if access is not None:
        if access.project.pk != project.pk:
            raise Denied("That belongs to another project.")
        return access
    return Access.of_member(project=project, user=user)


# --- activity --------------------------------------------------------------------------------


# The activities written while a request is being answered (see recording_activity): lets the
# character page know a POST changed something without reading the activity table again.
_RECORDED: ContextVar[list[int] | None] = ContextVar("turnaround_recorded_activity", default=None)


@contextmanager
def recording_activity() -> Iterator[list[int]]:
    """Collect the ids of the activities recorded inside the block."""
    token = _RECORDED.set([])
    try:
        yield _RECORDED.get()
    finally:
        _RECORDED.reset(token)


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
    activity = Activity.objects.create(
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
    recorded = _RECORDED.get()
    if recorded is not None:
        recorded.append(activity.pk)
    return activity


# --- reference revision ----------------------------------------------------------------------


def character_advance_revision(
    *,
    character: Character,
    kind: str,
    user: AbstractBaseUser | None,
    summary: str = "",
    panel_kind: str = "",
    panel_revision: PanelRevision | None = None,
) -> int:
    """The one way a character's references change: bump the revision and record why.

    Every shot remembers the revision it was made from; the ReferenceChange rows past it are
    what that shot misses. Call it inside the transaction that changes the references, so the
    change and its reason land together. Returns the new revision (also set on `character`).
    """
    Character.objects.filter(pk=character.pk).update(reference_revision=F("reference_revision") + 1)
    revision = Character.objects.values_list("reference_revision", flat=True).get(pk=character.pk)
    ReferenceChange.objects.create(
        character=character,
        revision=revision,
        kind=kind,
        panel_kind=panel_kind,
        panel_revision=panel_revision,
        summary=summary[:300],
        actor=user if user is not None and user.is_authenticated else None,
    )
    character.reference_revision = revision
    # The video provider's asset library follows the references: a task after commit, named by
    # its path (references builds on sheets, which builds on this module).
    transaction.on_commit(
        lambda: async_task(
            "characters.services.references.references_sync_task",
            character.pk,
            task_name=f"references-{character.pk}",
        )
    )
    return revision
