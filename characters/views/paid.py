"""Paid POSTs are made once: a double click, a form sent again or two tabs sending the same
request within a few seconds start one provider call (and one charge), not two.

The pages also disable a paid form's button while its request is in flight
(`hx-disabled-elt`); this is the server's half, for forms sent without JS and for anything
that gets past the browser. The key lives in Django's default cache, which must be shared by
every web process for the guard to hold across them (see README, the cache setting).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.http import HttpRequest

from .. import services

REPEAT_WINDOW = 5  # seconds: the same request again within this is a repeat, not a new order
REPEATED = (
    "That was already sent a moment ago: the same request arrived twice within "
    f"{REPEAT_WINDOW} seconds, so it is made (and paid for) once."
)


def _key(request: HttpRequest) -> str:
    """Same person (or guest session), same action and target (the path), same parameters."""
    user = request.user
    who = f"user:{user.pk}" if user.is_authenticated else f"session:{request.session.session_key}"
    fields = sorted(
        (name, value)
        for name, values in request.POST.lists()
        if name != "csrfmiddlewaretoken"
        for value in values
    )
    digest = hashlib.sha256(repr((who, request.path, fields)).encode()).hexdigest()
    return f"turnaround:paid-once:{digest}"


@contextmanager
def paid_once(request: HttpRequest) -> Iterator[None]:
    """Run the block unless the same request was made within REPEAT_WINDOW seconds; then raise
    ServiceError(REPEATED), which the view shows where it shows the service's own refusals.
    A block that fails frees the key: sending it again is then a new try, not a repeat."""
    key = _key(request)
    if not cache.add(key, 1, timeout=REPEAT_WINDOW):  # atomic: one of two racing adds wins
        raise services.ServiceError(REPEATED)
    try:
        yield
    except BaseException:
        cache.delete(key)
        raise
