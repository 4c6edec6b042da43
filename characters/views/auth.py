"""Log in with a limit: after five failed attempts for one username from one address in 15
minutes, further attempts are refused (429) until the window passes."""

from __future__ import annotations

import hashlib

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .common import client_ip, log_refusal

LOGIN_FAILURES_ALLOWED = 5
LOGIN_FAILURE_WINDOW = 15 * 60


def _key(request: HttpRequest) -> str:
    username = request.POST.get("username", "").strip().lower()
    digest = hashlib.sha256(f"{username}|{client_ip(request)}".encode()).hexdigest()[:32]
    return f"turnaround:login-fail:{digest}"


class RateLimitedLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        key = _key(request)
        if cache.get(key, 0) >= LOGIN_FAILURES_ALLOWED:
            log_refusal(request, "login attempts throttled")
            minutes = LOGIN_FAILURE_WINDOW // 60
            return render(
                request,
                "characters/share_message.html",
                {
                    "title": "Too many attempts",
                    "message": f"Too many failed log-in attempts. Wait {minutes} minutes and try "
                    "again.",
                },
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):  # type: ignore[no-untyped-def]
        key = _key(self.request)
        if not cache.add(key, 1, LOGIN_FAILURE_WINDOW):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, LOGIN_FAILURE_WINDOW)
        return super().form_invalid(form)

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        cache.delete(_key(self.request))
        return super().form_valid(form)
