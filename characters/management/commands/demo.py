"""Create the demo project (slug `demo`) with one character, and the `admin` login. Safe to rerun."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from characters.models import Character, Membership, Project, Role

DEMO_BRIEF = (
    "Mara Quell, a woman in her late 40s, a lighthouse keeper. Weathered olive skin with fine lines around the "
    "eyes, short grey hair, grey eyes, a thin scar on the left cheek."
)


class Command(BaseCommand):
    help = "Create the demo project, one character, and the admin user (prints how to log in)."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username="admin").first()
            password = None
            if user is None:
                password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
                user = User.objects.create_superuser("admin", "admin@example.com", password)
            elif os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
                user.set_password(os.environ["DJANGO_SUPERUSER_PASSWORD"])
                user.save(update_fields=["password"])
            project, _ = Project.objects.get_or_create(
                slug="demo", defaults={"name": "Demo: The Lighthouse"}
            )
            Membership.objects.get_or_create(
                project=project, user=user, defaults={"role": Role.OWNER}
            )
            Character.objects.get_or_create(
                project=project,
                slug="mara",
                defaults={
                    "name": "Mara Quell",
                    "brief": DEMO_BRIEF,
                    # The AirPod is the README's continuity story: seen in a shot, traced to
                    # the sheet, fixed everywhere (and a rule "no earbuds" keeps it out).
                    "wardrobe": "Navy wool fisherman's jumper, oilskin jacket, "
                    "a white AirPod in her left ear.",
                    "distinguishing_marks": "Thin scar on the left cheek.",
                    "hand_props": "Brass storm lantern",
                },
            )
        self.stdout.write("Demo project: /p/demo/  ·  log in as user 'admin'")
        if password and not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            # Shown once, on the terminal of the person who set the machine up; never logged.
            self.stdout.write(
                self.style.WARNING(f"Generated admin password (shown once): {password}")
            )
        elif password:
            self.stdout.write("Admin password: the one in DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write("Admin user already exists; its password is unchanged.")
