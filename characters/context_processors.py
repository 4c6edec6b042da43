"""Template context every page needs: which stages are offline previews."""

from __future__ import annotations

from django.http import HttpRequest

from .generators.routing import offline_stages


def turnaround(request: HttpRequest) -> dict:
    return {"offline_stages": offline_stages()}
