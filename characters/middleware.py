"""Log every refused request (403, 429) with who, where from and which page — never secrets.
404s from project_access are logged there, where the reason is known. A guest whose share link
was revoked or has expired gets the page that says so, wherever they were."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views.common import ShareLinkEnded, log_refusal, share_link_ended_page


class RefusalLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403:
            log_refusal(request, "forbidden")
        return response


class EndedShareLinkMiddleware:
    """Turn ShareLinkEnded, raised by project_access on any page, poll or media file the link
    used to open, into the 410 page that says the link was revoked or has expired."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ShareLinkEnded):
            return share_link_ended_page(request, exception.link)
        return None
