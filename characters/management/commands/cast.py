"""Queue casting candidates from the command line: `manage.py cast PROJECT/CHARACTER --count N [--wait]`."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from characters import services
from characters.models import CastingCandidate, Character, Generation


def resolve_character(target: str) -> Character:
    project_slug, _, character_slug = target.partition("/")
    if not project_slug or not character_slug:
        raise CommandError("Name the character as PROJECT_SLUG/CHARACTER_SLUG, e.g. demo/mara.")
    character = (
        Character.objects.select_related("project")
        .filter(project__slug=project_slug, slug=character_slug)
        .first()
    )
    if character is None:
        raise CommandError(f"No character {character_slug!r} in project {project_slug!r}.")
    return character


def resolve_actor(username: str):
    actor = get_user_model().objects.filter(username=username).first()
    if actor is None:
        raise CommandError(f"No user {username!r}; pass --user.")
    return actor


def report(stdout, generations: list[Generation], describe, noun: str) -> None:
    """One line per result (status, file, cost, reason); non-zero exit when any failed.

    describe(generation) gives the line's start and any extra fields, e.g. the image path."""
    failed = 0
    for g in generations:
        cost = f"${g.cost_usd:.4f}" if g.cost_usd is not None else "-"
        line = f"{describe(g)}  cost={cost}"
        if g.error:
            line += f"  reason={g.error}"
        stdout.write(line)
        failed += g.status != Generation.Status.SUCCEEDED
    if failed:
        raise CommandError(f"{failed} of {len(generations)} {noun} did not succeed.")


def wait_for(generation_ids: list[int], timeout: float, stdout) -> list[Generation]:
    deadline = time.monotonic() + timeout
    while True:
        generations = list(Generation.objects.filter(pk__in=generation_ids).order_by("pk"))
        if all(g.is_final for g in generations) or time.monotonic() > deadline:
            return generations
        time.sleep(0.5)


class Command(BaseCommand):
    help = "Queue N casting candidates for a character; --wait prints each result."

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="PROJECT_SLUG/CHARACTER_SLUG")
        parser.add_argument("--count", type=int, default=4)
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the results (needs a running worker)."
        )
        parser.add_argument("--timeout", type=float, default=600)
        parser.add_argument(
            "--user", default="admin", help="Who the work is recorded as (default admin)."
        )

    def handle(
        self, *args, target: str, count: int, wait: bool, timeout: float, user: str, **options
    ) -> None:
        character = resolve_character(target)
        actor = resolve_actor(user)
        try:
            candidates = services.casting_start(character=character, user=actor, count=count)
        except (services.ServiceError, services.Denied) as exc:
            raise CommandError(str(exc)) from exc
        ids = [c.generation_id for c in candidates]
        self.stdout.write(
            f"Queued {len(ids)} candidate(s) for {character.project.slug}/{character.slug}: generations {ids}"
        )
        if not wait:
            return

        def describe(g: Generation) -> str:
            candidate = CastingCandidate.objects.select_related("image").get(generation=g)
            path = candidate.image.file.path if candidate.image else "-"
            return f"generation {g.pk}: {g.status}  image={path}"

        report(self.stdout, wait_for(ids, timeout, self.stdout), describe, "candidate(s)")
