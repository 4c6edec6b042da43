"""The stage table is the one description of a stage: choices, routes and typical waits read it."""

from __future__ import annotations

import os
import subprocess
import sys

from characters.generators import routing
from characters.models import Generation, Stage
from characters.stages import STAGES


def test_the_stage_choices_are_the_tables_rows():
    assert [(s.value, s.label) for s in Stage] == [(k, v.label) for k, v in STAGES.items()]
    assert tuple(STAGES) == routing.STAGES


def _routes(**env_overrides: str) -> str:
    """settings.TURNAROUND_ROUTES as a fresh interpreter reads it from this environment."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "studio.settings"}
    env.pop("TURNAROUND_ROUTE_SHEET", None)
    env.update(env_overrides)
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(dict(settings.TURNAROUND_ROUTES))"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_default_routes_come_from_the_table_and_the_environment_overrides_them():
    assert _routes() == str({k: v.default_route for k, v in STAGES.items()})
    routed = _routes(TURNAROUND_ROUTE_SHEET="offline")
    assert "'sheet': 'offline'" in routed and "'shot': 'seedance'" in routed


def test_a_pending_card_shows_the_stage_and_providers_typical_time():
    assert Generation(stage="shot", provider="seedance").typical_seconds == 120
    assert Generation(stage="casting", provider="recraft").typical_seconds == 15
    # A provider the table does not list falls back to the stage's default.
    assert Generation(stage="sheet", provider="someone-new").typical_seconds == 60
