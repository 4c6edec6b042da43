"""What each project role may do. Views and services both ask here."""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from .models import Role


class Action(StrEnum):
    VIEW = "view"
    VOTE = "vote"
    ANNOTATE = "annotate"
    GENERATE = "generate"  # anything paid: a provider call (cast, sheets, inspect, trace, shots)
    DECIDE = "decide"  # shortlist / reject / approve / lock / unlock / fix / resolve
    EDIT_BRIEF = "edit_brief"
    MANAGE = "manage"  # members, share links, budget, delete
    SEE_COSTS = "see_costs"


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: frozenset({Action.VIEW, Action.SEE_COSTS}),
    Role.REVIEWER: frozenset({Action.VIEW, Action.SEE_COSTS, Action.VOTE, Action.ANNOTATE}),
    Role.EDITOR: frozenset(
        {
            Action.VIEW,
            Action.SEE_COSTS,
            Action.VOTE,
            Action.ANNOTATE,
            Action.GENERATE,
            Action.DECIDE,
            Action.EDIT_BRIEF,
        }
    ),
}
ROLE_ACTIONS[Role.OWNER] = frozenset(Action)


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


class Denied(PermissionDenied):
    """The user's role does not allow the action. The message is shown to them."""
