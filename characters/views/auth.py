"""Log in with limits (characters/limits.py): five tries for one username from one address,
and twenty for any usernames from one address, in 15 minutes; past either, tries are refused
(429) until the window passes. The username is counted as Django's lookup reads it (NFKC) and
case-folded, so look-alike spellings of one name share one count."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from .. import limits
from ..limits import LOGIN_PER_ADDRESS, LOGIN_PER_USERNAME
from ..validation import fold_name
from .common import client_ip, too_many


def _parts(request: HttpRequest) -> tuple[str, str]:
    return fold_name(request.POST.get("username", "")), client_ip(request)


class RateLimitedLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        username, address = _parts(request)
        # Counts are taken before the password is checked, so tries racing in several
        # processes can't all pass a check that read the count before any of them failed. A try
        # refused for its username takes no slot from the address: retrying one locked name
        # must not lock the address out of every other account.
        if not limits.take(LOGIN_PER_USERNAME, username, address) or not limits.take(
            LOGIN_PER_ADDRESS, address
        ):
            return too_many(
                request,
                "login attempts throttled",
                "Too many failed log-in attempts. Wait "
                f"{LOGIN_PER_USERNAME.minutes} minutes and try again.",
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        # A successful log-in was not a guess: it clears its name's count and returns its slot.
        username, address = _parts(self.request)
        limits.clear(LOGIN_PER_USERNAME, username, address)
        limits.give_back(LOGIN_PER_ADDRESS, address)
        return super().form_valid(form)
