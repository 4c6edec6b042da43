"""Stage → provider. Users pick a stage; settings pick the platform.

A stage routed to a provider without an API key falls back to the offline generator, and
`offline_stages()` tells the pages which stages are previews so they can say so.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from ..stages import STAGES as STAGE_TABLE
from .base import Generator

PROVIDERS = {
    "offline": ("characters.generators.offline", "OfflineGenerator", None),
    "recraft": ("characters.generators.recraft", "RecraftGenerator", "RECRAFT_API_KEY"),
    "gemini": ("characters.generators.gemini", "GeminiGenerator", "GEMINI_API_KEY"),
    "seedance": ("characters.generators.seedance", "SeedanceGenerator", "ARK_API_KEY"),
}
STAGES = tuple(STAGE_TABLE)


def configured_provider(stage: str) -> str:
    name = settings.TURNAROUND_ROUTES.get(stage, "offline")
    if name not in PROVIDERS:
        raise ValueError(f"TURNAROUND_ROUTE_{stage.upper()}={name!r} is not a known provider.")
    return name


def provider_for(stage: str) -> str:
    """The provider that will actually serve the stage (offline when the key is missing)."""
    name = configured_provider(stage)
    key_setting = PROVIDERS[name][2]
    if key_setting and not getattr(settings, key_setting, ""):
        return "offline"
    return name


def offline_stages() -> list[str]:
    return [stage for stage in STAGES if provider_for(stage) == "offline"]


def key_is_set(provider: str) -> bool:
    key_setting = PROVIDERS[provider][2]
    return bool(key_setting is None or getattr(settings, key_setting, ""))


def get_generator(provider: str) -> Generator:
    module_name, class_name, _ = PROVIDERS[provider]
    return getattr(import_module(module_name), class_name)()


def generator_for(stage: str) -> Generator:
    return get_generator(provider_for(stage))
