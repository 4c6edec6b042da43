"""The sheet stage and the continuity loop in real Chromium, with a real django-q2 worker:
generate sheets → compare panels → lock; then draw a box on a panel, inspect, fix at the
source, and watch the shot made from the old sheet go stale and come back re-rendered."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from characters import services
from characters.models import Annotation, CastingCandidate, Character, Generation, Shot
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def all_final(ids: list[int]) -> bool:
    return all(g.is_final for g in Generation.objects.filter(pk__in=ids))


@pytest.fixture
def offline(settings: Any) -> None:
    settings.RECRAFT_API_KEY = settings.GEMINI_API_KEY = settings.ARK_API_KEY = ""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"  # the layout is the same; the pixels are fewer


@pytest.fixture
def ines(project: Any, owner: Any, qcluster: Any, offline: None) -> Character:
    """A character whose face is locked and 4K-upscaled by the worker."""
    qcluster(TURNAROUND_SHEET_IMAGE_SIZE="1K")
    character = Character.objects.create(
        project=project,
        name="Ines Varga",
        slug="ines",
        brief="A woman in her 30s, long auburn hair, green eyes, freckles.",
        wardrobe="Green raincoat. Wears an AirPod in her left ear.",
    )
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    wait_for(lambda: all_final([candidate.generation_id]), "the portrait")
    services.candidate_approve(candidate=candidate, user=owner)
    wait_for(lambda: CastingCandidate.objects.get(pk=candidate.pk).image_4k_id, "the 4K portrait")
    character.refresh_from_db()
    return character


def test_generate_compare_lock(page, login, shot, owner, ines):
    login(owner.username, PASSWORD)
    page.goto(ines.get_absolute_url())
    sheets = page.locator("#sheets")
    sheets.get_by_label("Options").fill("2")
    sheets.get_by_role("button", name="Generate sheets").click()
    expect(page.locator(".sheet-card")).to_have_count(2)
    expect(page.locator(".sheet-card img")).to_have_count(2, timeout=60_000)
    expect(page.locator(".sheet-card .offline-badge")).to_have_count(2)
    shot("options")
    # One more: only the new card is sent, added after the others; the form is fresh again.
    sheets.get_by_label("Options").fill("1")
    sheets.get_by_role("button", name="Generate sheets").click()
    expect(page.locator(".sheet-card")).to_have_count(3)
    expect(page.locator(".sheet-card").last).to_contain_text("Option 3")
    expect(page.locator(".sheet-card img")).to_have_count(3, timeout=60_000)
    expect(sheets.get_by_label("Options")).to_have_value("4")
    expect(sheets.get_by_role("button", name="Generate sheets")).to_be_enabled()

    page.get_by_role("link", name="Compare panels").click()
    expect(page.locator("h1")).to_have_text("Is this the same person from every angle?")
    page.get_by_role("link", name="Profile", exact=True).click()
    expect(page.locator(".compare-row figure")).to_have_count(4)  # the locked face + 3 options
    expect(page.locator(".compare-row figure.reference")).to_contain_text("Locked face")
    shot("compare-profile")

    page.go_back()
    page.go_back()
    page.locator(".sheet-card").first.get_by_role("button", name="Lock this sheet").click()
    page.get_by_role("button", name="Yes, lock this sheet").click()
    expect(page.get_by_role("link", name="Download reference pack")).to_be_visible()
    expect(page.locator("#stage-badge")).to_have_text("Ready")
    expect(page.locator(".panel-strip li")).to_have_count(6)
    shot("locked")

    ines.refresh_from_db()
    assert ines.locked_sheet is not None and ines.locked_sheet.index == 1
    manifest = json.loads(page.request.get(f"{ines.get_absolute_url()}manifest.json").text())
    assert manifest["reference_revision"] == ines.reference_revision == 2
    assert len(manifest["panels"]) == 6 and manifest["sheet"]["locked_by"] == owner.username


def test_draw_inspect_fix_stale_rerender(page, login, shot, owner, ines):
    (option,) = services.sheet_generate(character=ines, user=owner, count=1)
    wait_for(lambda: all_final([option.generation_id]), "the sheet")
    services.sheet_lock(option=option, user=owner)
    made = services.shot_create(
        project=ines.project, user=owner, prompt="Ines turns to the window", characters=[ines]
    )
    wait_for(lambda: all_final([Shot.objects.get(pk=made.pk).generation_id]), "the first render")

    login(owner.username, PASSWORD)
    page.goto(ines.get_absolute_url())

    # Draw a box on the face close-up and save a note with Ctrl+Enter.
    page.locator(".panel-strip a", has_text="Face closeup").click()
    surface = page.locator("#surface")
    expect(surface.locator("img")).to_have_js_property("complete", True)
    box = surface.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.4, steps=6)
    page.mouse.up()
    form = page.locator("#annotation-form")
    expect(form).to_be_visible()
    form.locator("textarea").fill("Collar differs from the front panel")
    form.locator("select").select_option("note")
    form.locator("textarea").press("Control+Enter")
    expect(page.locator(".annotation")).to_contain_text("Collar differs")
    expect(page.locator(".box.saved")).to_have_count(1)
    note = Annotation.objects.get(body="Collar differs from the front panel")
    assert 0.15 < note.x < 0.25 and 0.15 < note.y < 0.25 and 0.2 < note.w < 0.3
    shot("drawn")

    # Inspect: the shot showed an AirPod; the offline inspector finds it on the panels.
    page.goto(ines.get_absolute_url())
    page.locator("#continuity input[name=description]").fill("She wears an AirPod in shot 1")
    page.locator("#continuity").get_by_role("button", name="Inspect").click()
    expect(page.locator(".inspections")).to_contain_text("found in", timeout=30_000)
    expect(page.locator(".panel-strip a", has_text="Face closeup").locator(".count")).to_have_text(
        "2"
    )

    # Fix it at the source, on the face close-up.
    page.locator(".panel-strip a", has_text="Face closeup").click()
    flagged = page.locator(".annotation", has_text="Inspection")
    flagged.get_by_role("button", name="Fix at the source").click()
    expect(page.locator(".revision")).to_have_count(2, timeout=30_000)  # the page reloads itself
    expect(page.locator(".revision.current")).to_contain_text("Revision 2")
    expect(flagged).to_contain_text("Resolved by revision 2")
    shot("fixed")

    # The shot made from the old sheet is stale, says why, and comes back re-rendered.
    page.goto(f"/p/{ines.project.slug}/shots/")
    expect(page.locator(".shot-card.stale")).to_have_count(1)
    expect(page.locator(".stale-note").last).to_contain_text("Face closeup fixed:")
    shot("stale")
    page.get_by_role("button", name="Re-render stale shots").click()
    expect(page.locator(".shot-card.stale")).to_have_count(0, timeout=30_000)
    expect(page.locator(".shot-card img.preview")).to_have_count(1, timeout=30_000)
    shot("rerendered")
    made.refresh_from_db()
    assert made.renders.count() == 2 and services.shot_staleness(made) == []
