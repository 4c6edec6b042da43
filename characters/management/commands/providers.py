"""`manage.py providers`: which provider and model serves each stage, and whether keys work.

Never prints a key: only whether one is set. `--check` makes one cheap authenticated request per
configured provider (nothing that generates or charges), asks whether each configured model
exists (naming retired and unknown ones; the owner's page banner repeats them), and checks the
Seedance asset library's signed access when shots go to Seedance.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from characters.generators import routing
from characters.generators.base import GeneratorError
from characters.generators.seedance_assets import SeedanceAssetLibrary


def shots_library_needed() -> bool:
    return routing.provider_for("shot") == "seedance"


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
        if shots_library_needed():
            keys = (
                "key pair set"
                if settings.ARK_ACCESS_KEY and settings.ARK_SECRET_KEY
                else ("needs ARK_ACCESS_KEY and ARK_SECRET_KEY")
            )
            url = settings.TURNAROUND_PUBLIC_URL or "needs TURNAROUND_PUBLIC_URL"
            self.stdout.write(f"shot references: Seedance asset library ({keys}; {url})")
        if not options["check"]:
            return
        if not used:
            self.stdout.write("No provider has a key; nothing to check.")
            return
        failed = []
        problems: list[str] = []
        for provider in used:
            generator = routing.get_generator(provider)
            try:
                detail = generator.check()
                statuses = generator.check_models()
            except GeneratorError as exc:
                failed.append(provider)
                self.stdout.write(f"{provider}: FAILED - {exc}")
                continue
            finally:
                generator.close()
            self.stdout.write(f"{provider}: OK - {detail}")
            for status in statuses:
                if status.state == "ok":
                    self.stdout.write(f"  {status.model}: available")
                    continue
                line = f"{status.setting}={status.model} is {status.state} ({status.detail})."
                problems.append(line)
                self.stdout.write(f"  {status.model}: {status.state.upper()} - {status.detail}")
                if provider not in failed:
                    failed.append(provider)
        if shots_library_needed():
            failed += self._check_library()
        # What an owner's banner repeats until the next check.
        cache.set(routing.MODEL_CHECK_CACHE_KEY, problems, 7 * 24 * 3600)
        if failed:
            raise CommandError(f"Provider check failed for: {', '.join(failed)}.")

    def _check_library(self) -> list[str]:
        library = SeedanceAssetLibrary()
        try:
            detail = library.check()
        except GeneratorError as exc:
            self.stdout.write(f"seedance asset library: FAILED - {exc}")
            return ["seedance asset library"]
        finally:
            library.close()
        self.stdout.write(f"seedance asset library: OK - {detail}")
        return []
