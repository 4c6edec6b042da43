"""Template context every page needs: which stages are offline previews, unread mentions."""

from __future__ import annotations

from django.http import HttpRequest

from .generators.routing import model_problems, offline_stages
from .models import Notification


def turnaround(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    # Lazy: only an owner's page evaluates it (base.html checks the role first).
    context: dict = {"offline_stages": offline_stages(), "model_problems": model_problems}
    if user is not None and user.is_authenticated:
        # Evaluated only when a page shows it (the header does): one COUNT query.
        context["unread_notifications"] = lambda: Notification.objects.filter(
            user=user, read_at__isnull=True
        ).count()
    return context
