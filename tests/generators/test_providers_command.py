"""manage.py providers: routes, models and key status, and --check against the fake."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.fakes.server import ARK_KEY, GEMINI_KEY, RECRAFT_KEY


def run(*args: str) -> str:
    out = StringIO()
    call_command("providers", *args, stdout=out)
    return out.getvalue()


def test_it_lists_each_stage_without_showing_keys(fake):
    output = run()
    assert "casting  recraft   recraftv3 (key set)" in output
    assert "sheet    gemini    gemini-3-pro-image (key set)" in output
    assert "inspect  gemini    gemini-3.1-pro-preview (key set)" in output
    assert "shot     seedance  dreamina-seedance-2-0-260128 (key set)" in output
    for key in (RECRAFT_KEY, GEMINI_KEY, ARK_KEY):
        assert key not in output


def test_it_says_which_stages_are_offline_previews(fake, settings):
    settings.GEMINI_API_KEY = ""
    output = run()
    assert "sheet    offline   offline-sheet (offline preview: gemini has no key)" in output


def test_check_makes_one_authenticated_call_per_provider(fake):
    output = run("--check")
    assert "recraft: OK - authenticated; 1000 credits left" in output
    assert "gemini: OK - authenticated; models/gemini-3-pro-image is available" in output
    assert "seedance: OK - authenticated" in output
    routes = [r.route for r in fake.requests]
    assert sorted(routes) == ["ark.poll", "gemini.model", "recraft.me"]


def test_check_reports_a_refused_key_with_the_reason(fake, settings):
    settings.ARK_API_KEY = "ark-wrong-key"
    out = StringIO()
    with pytest.raises(CommandError, match="seedance"):
        call_command("providers", "--check", stdout=out)
    output = out.getvalue()
    assert "seedance: FAILED - Seedance refused the API key or access (HTTP 401)" in output
    assert "recraft: OK" in output
    assert "ark-wrong-key" not in output
