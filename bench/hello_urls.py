"""Bench-only URLconf: the product's URLs plus a bare "hello" view to compare against.

bench/bench_requests.py sets ROOT_URLCONF to this module for its own process; the product's
URLs (studio.urls) never include it.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello", content_type="text/plain")


def hello_user(request: HttpRequest) -> HttpResponse:
    """The floor for any logged-in view: the session and the user are loaded."""
    return HttpResponse(f"hello {request.user.get_username()}", content_type="text/plain")


urlpatterns = [
    path("hello", hello, name="bench-hello"),
    path("hello-user", hello_user, name="bench-hello-user"),
    path("", include("studio.urls")),
]
