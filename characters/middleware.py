"""Log every refused request (403, 429) with who, where from and which page — never secrets.
404s from project_access are logged there, where the reason is known."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views.common import log_refusal


class RefusalLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403:
            log_refusal(request, "forbidden")
        return response
