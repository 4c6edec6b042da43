"""Is it the same person? In real Chromium, with a real django-q2 worker measuring a sheet made
of real photographs (one man, and a stranger pasted into the three-quarter panel); then what
locking that character cost, on the character page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from characters.models import Character, Generation, IdentityScore
from tests.conftest import PASSWORD
from tests.photos import lock_photo_face, photos_dir, store_photo_sheet

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def abe(project: Any, owner: Any, qcluster: Any) -> Character:
    photos_dir()  # fetched before the clock of any wait starts
    qcluster()
    character = Character.objects.create(
        project=project, name="Abe Lind", slug="abe", brief="A man in his late 40s, greying hair."
    )
    candidate = lock_photo_face(character, owner)
    # Stored outside any test transaction: the identity task reaches the worker on commit.
    store_photo_sheet(character, candidate)
    return character


def test_identity_badges_and_cost_to_lock(page, login, shot, owner, abe):
    Generation.objects.filter(character=abe).update(cost_usd="0.25")
    login(owner.username, PASSWORD)
    page.goto(abe.get_absolute_url())
    card = page.locator(".sheet-card").first
    # The card shows at once; the badge fills in when the worker has measured the panels.
    expect(card.locator(".option-identity")).to_contain_text(
        "may be someone else: three quarter", timeout=60_000
    )
    assert IdentityScore.objects.filter(panel__sheet__character=abe).count() == 6

    page.get_by_role("link", name="Compare panels").click()
    page.get_by_role("link", name="Three-quarter", exact=True).click()
    stranger = page.locator(".compare-row figure[data-option='1']")
    expect(stranger.locator(".id-badge.different")).to_contain_text("may be someone else")
    shot("compare-three-quarter")
    page.get_by_role("link", name="Front", exact=True).click()
    expect(page.locator(".compare-row figure[data-option='1'] .id-badge.same")).to_contain_text(
        "same person"
    )
    page.get_by_role("link", name="Back", exact=True).click()
    expect(page.locator(".compare-row figure[data-option='1'] .id-badge")).to_have_text("no face")
    shot("compare-back")

    page.goto(abe.get_absolute_url())
    page.get_by_role("button", name="Lock this sheet").click()
    page.get_by_role("button", name="Yes, lock this sheet").click()
    expect(page.locator(".locked-sheet")).to_be_visible()
    page.reload()
    cost = page.locator("#cost-to-lock")
    expect(cost).to_contain_text("What it cost to lock")
    expect(cost.locator("[data-figure='spend']")).to_have_text("$0.50")
    expect(cost.locator("[data-figure='generations']")).to_have_text("2")
    expect(cost).to_contain_text("Time to lock")
    cost.locator("summary").click()
    expect(cost.locator("tr[data-row='median']")).to_contain_text("$0.50")
    shot("cost-to-lock")
