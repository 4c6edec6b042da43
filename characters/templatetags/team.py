"""Template helpers for team review: vote tallies from prefetched votes."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def votes_for(target: object, user: object) -> dict:
    """Up/down counts, who voted, and this user's own vote, for a candidate or sheet option
    whose `votes` (with their users) were prefetched by the selector."""
    votes = list(target.votes.all())
    uid = getattr(user, "pk", None)
    return {
        "up": sum(1 for v in votes if v.value > 0),
        "down": sum(1 for v in votes if v.value < 0),
        "up_by": [v.user.get_username() for v in votes if v.value > 0],
        "down_by": [v.user.get_username() for v in votes if v.value < 0],
        "mine": next((v.value for v in votes if uid is not None and v.user_id == uid), 0),
    }
