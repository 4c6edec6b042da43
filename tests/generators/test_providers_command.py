"""manage.py providers: routes, models and key status, and --check against the fake."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.fakes.server import ARK_KEY, ARK_SECRET_KEY, GEMINI_KEY, RECRAFT_KEY

# --check stores what it found in the shared cache for the owner's banner: by default that is a
# table in the database.
pytestmark = pytest.mark.django_db


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
    assert (
        "shot references: Seedance asset library (key pair set; needs TURNAROUND_PUBLIC_URL)"
        in output
    )
    for key in (RECRAFT_KEY, GEMINI_KEY, ARK_KEY, ARK_SECRET_KEY):
        assert key not in output


def test_it_says_which_stages_are_offline_previews(fake, settings):
    settings.GEMINI_API_KEY = ""
    output = run()
    assert "sheet    offline   offline-sheet (offline preview: gemini has no key)" in output


def test_check_makes_one_authenticated_call_per_provider(fake):
    output = run("--check")
    assert "recraft: OK - authenticated; 1000 credits left" in output
    assert "gemini: OK - authenticated" in output
    assert "seedance: OK - authenticated" in output
    routes = [r.route for r in fake.requests]
    # One key check each, one lookup per Gemini model, one signed asset-library read.
    assert sorted(routes) == [
        "ark.poll",
        "arkopen.call",
        "gemini.model",
        "gemini.model",
        "gemini.models",
        "recraft.me",
    ]


def test_check_reports_a_refused_key_with_the_reason(fake, settings):
    settings.ARK_API_KEY = "ark-wrong-key"
    out = StringIO()
    with pytest.raises(CommandError, match="seedance"):
        call_command("providers", "--check", stdout=out)
    output = out.getvalue()
    assert "seedance: FAILED - Seedance refused the API key or access (HTTP 401)" in output
    assert "recraft: OK" in output
    assert "ark-wrong-key" not in output


def test_check_asks_about_each_model_and_the_asset_library(fake):
    output = run("--check")
    assert "  gemini-3-pro-image: available" in output
    assert "  gemini-3.1-pro-preview: available" in output
    assert "seedance asset library: OK - signed request accepted" in output


def test_check_reports_a_retired_model_by_name_and_fails(fake, settings):
    settings.GEMINI_IMAGE_MODEL = "gemini-3-pro-image-preview"
    out = StringIO()
    with pytest.raises(CommandError, match="gemini"):
        call_command("providers", "--check", stdout=out)
    output = out.getvalue()
    assert (
        "gemini-3-pro-image-preview: RETIRED - Google shut it down on 2026-06-25; "
        "set GEMINI_IMAGE_MODEL=gemini-3-pro-image"
    ) in output


def test_check_reports_an_unknown_model_the_api_does_not_know(fake, settings):
    settings.GEMINI_INSPECT_MODEL = "gemini-9-imaginary"
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("providers", "--check", stdout=out)
    assert "gemini-9-imaginary: UNKNOWN - Gemini's API does not know this model" in out.getvalue()
    assert [r.path for r in fake.routed("gemini.model")][-1].endswith("/gemini-9-imaginary")


@pytest.mark.django_db
def test_the_banner_tells_an_owner_about_retired_and_unknown_models(
    fake, settings, client, owner, editor, project
):
    settings.GEMINI_IMAGE_MODEL = "gemini-3-pro-image-preview"  # retired: known without asking
    settings.SEEDANCE_MODEL = "dreamina-seedance-9"
    with pytest.raises(CommandError):
        call_command("providers", "--check", stdout=StringIO())
    client.force_login(owner)
    page = client.get(project.get_absolute_url()).content.decode()
    assert "Provider models need attention" in page
    assert "GEMINI_IMAGE_MODEL=gemini-3-pro-image-preview is retired" in page
    assert "SEEDANCE_MODEL=dreamina-seedance-9 is unknown" in page
    client.force_login(editor)
    assert (
        "Provider models need attention"
        not in client.get(project.get_absolute_url()).content.decode()
    )
