"""`manage.py providers`: which provider and model serves each stage, and whether keys work.

Never prints a key: only whether one is set. `--check` makes one cheap authenticated request per
configured provider (nothing that generates or charges).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from characters.generators import routing
from characters.generators.base import GeneratorError


class Command(BaseCommand):
    help = "Show each stage's provider, model and key status; --check tests the keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Make one cheap authenticated request to each provider that has a key.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        used: list[str] = []
        for stage in routing.STAGES:
            configured = routing.configured_provider(stage)
            serving = routing.provider_for(stage)
            generator = routing.get_generator(serving)
            try:
                model = generator.model_for(stage)
            finally:
                generator.close()
            if configured == "offline":
                note = " (no key needed)"
            elif serving == configured:
                note = " (key set)"
            else:
                note = f" (offline preview: {configured} has no key)"
            self.stdout.write(f"{stage:<8} {serving:<9} {model}{note}")
            if serving != "offline" and serving not in used:
                used.append(serving)
        if not options["check"]:
            return
        if not used:
            self.stdout.write("No provider has a key; nothing to check.")
            return
        failed = []
        for provider in used:
            generator = routing.get_generator(provider)
            try:
                detail = generator.check()
            except GeneratorError as exc:
                failed.append(provider)
                self.stdout.write(f"{provider}: FAILED - {exc}")
            else:
                self.stdout.write(f"{provider}: OK - {detail}")
            finally:
                generator.close()
        if failed:
            raise CommandError(f"Provider check failed for: {', '.join(failed)}.")
