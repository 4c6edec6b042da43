"""Queue turnaround sheet options: `manage.py sheets PROJECT/CHARACTER [--count N] [--wait]`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from characters import services
from characters.models import Generation, SheetOption

from .cast import report, resolve_actor, resolve_character, wait_for


class Command(BaseCommand):
    help = "Queue sheet options from the locked face; --wait prints each result."

    def add_arguments(self, parser) -> None:
        parser.add_argument("target", help="PROJECT_SLUG/CHARACTER_SLUG")
        parser.add_argument("--count", type=int, default=4)
        parser.add_argument("--preset", default=None, help="Panel layout (six or eight).")
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the results (needs a running worker)."
        )
        parser.add_argument("--timeout", type=float, default=900)
        parser.add_argument(
            "--user", default="admin", help="Who the work is recorded as (default admin)."
        )

    def handle(
        self,
        *args,
        target: str,
        count: int,
        preset: str | None,
        wait: bool,
        timeout: float,
        user: str,
        **options,
    ) -> None:
        character = resolve_character(target)
        actor = resolve_actor(user)
        try:
            created = services.sheet_generate(
                character=character, user=actor, count=count, preset=preset
            )
        except (services.ServiceError, services.Denied) as exc:
            raise CommandError(str(exc)) from exc
        ids = [o.generation_id for o in created]
        self.stdout.write(
            f"Queued {len(ids)} sheet option(s) for {character.project.slug}/{character.slug}: generations {ids}"
        )
        if not wait:
            return

        def describe(g: Generation) -> str:
            option = SheetOption.objects.select_related("image").get(generation=g)
            path = option.image.file.path if option.image else "-"
            panels = option.split_method or "-"
            return f"option {option.index} (generation {g.pk}): {g.status}  image={path}  panels={panels}"

        report(self.stdout, wait_for(ids, timeout, self.stdout), describe, "sheet option(s)")
