"""The option page's split editor in real Chromium: drag a panel's edge (mouse) and move a box
(touch), watch edges snap to what detection found, name a panel in one click, and check that
the full-resolution crop follows each change."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from characters import services
from characters.models import Activity, Character, Panel
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser]


@pytest.fixture
def option(project: Any, owner: Any, settings: Any):
    """A finished, split offline sheet (tasks run in-process: no worker needed here)."""
    settings.RECRAFT_API_KEY = settings.GEMINI_API_KEY = settings.ARK_API_KEY = ""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    settings.TURNAROUND_UPSCALE_TARGET = 1024
    character = Character.objects.create(
        project=project, name="Ines Varga", slug="ines", brief="A woman in her 30s, auburn hair."
    )
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    services.candidate_approve(candidate=candidate, user=owner)
    (option,) = services.sheet_generate(character=character, user=owner, count=1)
    option.refresh_from_db()
    assert option.split_method == "detected"
    return option


def crop_size(page: Any, panel: Panel) -> tuple[int, int]:
    character = panel.sheet.character
    url = reverse("panel-full", args=[character.project.slug, character.slug, panel.pk])
    response = page.request.get(url)
    assert response.ok
    return Image.open(io.BytesIO(response.body())).size


def test_drag_an_edge_snap_it_back_and_name_a_panel(page, login, shot, owner, option):
    back = option.panels.get(kind="back")
    start = (back.x, back.y, back.w, back.h)
    login(owner.username, PASSWORD)
    page.goto(reverse("sheet-option", args=[option.character.project.slug, "ines", option.pk]))
    stage = page.locator(".split-stage")
    expect(stage.locator("img")).to_have_js_property("complete", True)
    expect(stage.locator(".split-box")).to_have_count(6)
    scale = option.image.width / stage.bounding_box()["width"]
    shot("boxes")

    # Drag the back panel's right edge 40 screen pixels to the left, clear of every edge.
    handle = page.locator(f'.split-box[data-panel="{back.pk}"] .split-handle[data-edge="e"]')
    hb = handle.bounding_box()
    x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 40, y, steps=8)
    page.mouse.up()
    row = page.locator(f"#panel-{back.pk}")
    expect(row.locator("h3")).to_contain_text("corrected box")
    back.refresh_from_db()
    assert (back.x, back.y, back.h) == (start[0], start[1], start[3])
    assert abs(back.w - (start[2] - 40 * scale)) <= 2 * scale
    assert crop_size(page, back) == (back.w, back.h)  # the crop follows the box
    shot("dragged")

    # Drag it most of the way back: within reach of the detected edge, it snaps onto it.
    hb = page.locator(
        f'.split-box[data-panel="{back.pk}"] .split-handle[data-edge="e"]'
    ).bounding_box()
    x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 35, y, steps=8)
    with page.expect_response(lambda r: r.url.endswith("/box") and r.ok):
        page.mouse.up()
    expect(page.locator(f'.split-box[data-panel="{back.pk}"]')).to_have_attribute(
        "data-w", str(start[2])
    )
    back.refresh_from_db()
    assert (back.x, back.y, back.w, back.h) == start
    assert Activity.objects.filter(verb="corrected panel box").count() == 2

    # "This is the profile, not the back": one click, and the two panels swap names.
    profile = option.panels.get(kind="profile")
    page.locator(f"#panel-{back.pk} .kind-form").get_by_role("button", name="Profile").click()
    expect(page.locator(f"#panel-{back.pk}")).to_have_attribute("data-kind", "profile")
    expect(page.locator(f"#panel-{profile.pk}")).to_have_attribute("data-kind", "back")
    expect(page.locator(f'.split-box[data-panel="{back.pk}"] .split-label')).to_contain_text(
        "Profile"
    )
    back.refresh_from_db()
    profile.refresh_from_db()
    assert (back.kind, profile.kind) == ("profile", "back")
    # The panel now called the profile is still the picture in its box, crop and all.
    assert crop_size(page, back) == (back.w, back.h)
    shot("renamed")


def test_a_box_moves_by_touch(page, login, owner, option):
    face = option.panels.get(kind="face_closeup")
    login(owner.username, PASSWORD)
    page.goto(reverse("sheet-option", args=[option.character.project.slug, "ines", option.pk]))
    stage = page.locator(".split-stage")
    expect(stage.locator("img")).to_have_js_property("complete", True)
    scale = option.image.width / stage.bounding_box()["width"]
    box = page.locator(f'.split-box[data-panel="{face.pk}"]')
    bb = box.bounding_box()
    x, y = bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2
    touch = {"pointerType": "touch", "pointerId": 7, "isPrimary": True, "button": 0}
    box.dispatch_event("pointerdown", {**touch, "clientX": x, "clientY": y, "buttons": 1})
    for step in range(1, 6):
        box.dispatch_event(
            "pointermove", {**touch, "clientX": x - 6 * step, "clientY": y + 5 * step, "buttons": 1}
        )
    box.dispatch_event("pointerup", {**touch, "clientX": x - 30, "clientY": y + 25})
    expect(page.locator(f"#panel-{face.pk} h3")).to_contain_text("corrected box")
    before = (face.x, face.y, face.w, face.h)
    face.refresh_from_db()
    assert (face.w, face.h) == before[2:]  # moved, not resized
    assert abs(face.x - (before[0] - 30 * scale)) <= 2 * scale
    assert abs(face.y - (before[1] + 25 * scale)) <= 2 * scale
    assert crop_size(page, face) == (face.w, face.h)
