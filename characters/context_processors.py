"""Template context every page needs: which stages are offline previews, unread mentions."""

from __future__ import annotations

from django.http import HttpRequest

from .generators.routing import offline_stages
from .models import Notification


def turnaround(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    context: dict = {"offline_stages": offline_stages()}
    if user is not None and user.is_authenticated:
        # Evaluated only when a page shows it (the header does): one COUNT query.
        context["unread_notifications"] = lambda: Notification.objects.filter(
            user=user, read_at__isnull=True
        ).count()
    return context
