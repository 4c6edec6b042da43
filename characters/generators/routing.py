"""Stage → provider. Users pick a stage; settings pick the platform.

A stage routed to a provider without an API key falls back to the offline generator, and
`offline_stages()` tells the pages which stages are previews so they can say so.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.core.cache import cache

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


# The settings that name each provider's models (the banner reads them without a request).
MODEL_SETTINGS = {
    "recraft": ("RECRAFT_MODEL",),
    "gemini": ("GEMINI_IMAGE_MODEL", "GEMINI_INSPECT_MODEL"),
    "seedance": ("SEEDANCE_MODEL",),
}
MODEL_CHECK_CACHE_KEY = "turnaround:model-problems"


def model_problems() -> list[str]:
    """Configured models a stage uses that are retired (known without asking) or that the last
    `providers --check` found unknown: one plain sentence each, for the owner's banner."""
    problems: list[str] = []
    used = {provider_for(stage) for stage in STAGES} - {"offline"}
    for provider in sorted(used):
        retired = getattr(import_module(PROVIDERS[provider][0]), "RETIRED_MODELS", {})
        for setting in MODEL_SETTINGS.get(provider, ()):
            model = getattr(settings, setting, "")
            if model in retired:
                detail = retired[model]
                if isinstance(detail, tuple):
                    detail = f"shut down on {detail[0]}; set {setting}={detail[1]}"
                problems.append(f"{setting}={model} is retired ({detail}).")
    for line in cache.get(MODEL_CHECK_CACHE_KEY) or []:
        if line not in problems:
            problems.append(line)
    return problems


def get_generator(provider: str) -> Generator:
    module_name, class_name, _ = PROVIDERS[provider]
    return getattr(import_module(module_name), class_name)()


def generator_for(stage: str) -> Generator:
    return get_generator(provider_for(stage))
