"""The casting stage in real Chromium: brief, cast, cull with the keyboard, compare, approve,
the 4K upscale, unlock — with a real django-q2 worker doing the generations.

These are slow (seconds each): they cover what the view tests cannot — htmx polling and swaps,
the keyboard script, CSP on real pages, and the worker process on the live server's database.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from characters.models import Activity, CastingCandidate, Character, Generation
from tests.conftest import PASSWORD
from tests.fakes.server import RECRAFT_KEY, FakeProvider

pytestmark = [pytest.mark.browser, pytest.mark.worker]

FOUR_K_READY = re.compile(r"4K portrait ready: \d+×4096")


@pytest.fixture
def mara(project: Any) -> Character:
    return Character.objects.create(
        project=project, name="Mara Quell", slug="mara", brief="A lighthouse keeper."
    )


@pytest.fixture
def offline(settings: Any) -> None:
    """Every stage on the offline generator, whatever keys the environment has."""
    settings.RECRAFT_API_KEY = ""
    settings.GEMINI_API_KEY = ""
    settings.ARK_API_KEY = ""


@pytest.fixture
def recraft(settings: Any, fake: FakeProvider) -> dict[str, str]:
    """Casting and upscale on the real Recraft client, pointed at the fake over loopback.

    Returns the same configuration as environment variables, for the worker process.
    """
    base = f"{fake.base_url}/recraft/v1"
    host = fake.base_url.split("//", 1)[1]
    settings.RECRAFT_API_KEY = RECRAFT_KEY
    settings.RECRAFT_API_BASE = base
    settings.RECRAFT_MODEL = "recraftv3"
    settings.TURNAROUND_DOWNLOAD_HOSTS = [host]
    settings.TURNAROUND_ROUTES = {**settings.TURNAROUND_ROUTES, "casting": "recraft"}
    settings.TURNAROUND_ROUTES["upscale"] = "recraft"
    return {
        "RECRAFT_API_KEY": RECRAFT_KEY,
        "RECRAFT_API_BASE": base,
        "RECRAFT_MODEL": "recraftv3",
        "TURNAROUND_DOWNLOAD_HOSTS": host,
        "TURNAROUND_ROUTE_CASTING": "recraft",
        "TURNAROUND_ROUTE_UPSCALE": "recraft",
    }


def cards(page: Any) -> Any:
    return page.locator("#candidate-grid .card")


def expect_loaded(image: Any) -> None:
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0


def test_casting_flow(page, login, shot, qcluster, owner, project, mara, offline):
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())
    expect(page.locator("h1")).to_have_text("Mara Quell")
    expect(page.locator(".banner.offline")).to_contain_text("casting")

    # The brief.
    brief = page.locator("#brief")
    brief.locator("textarea[name=brief]").fill("A woman in her late 40s, weathered olive skin.")
    brief.locator("textarea[name=wardrobe]").fill("Oilskin coat, grey wool jumper.")
    brief.locator("textarea[name=distinguishing_marks]").fill("Thin scar on the left cheek.")
    brief.locator("textarea[name=hand_props]").fill("Brass storm lantern.")
    brief.get_by_role("button", name="Save brief").click()
    expect(page.locator("#brief [role=status]")).to_have_text("Saved.")
    mara.refresh_from_db()
    assert mara.brief == "A woman in her late 40s, weathered olive skin."
    assert mara.wardrobe == "Oilskin coat, grey wool jumper."
    assert mara.distinguishing_marks == "Thin scar on the left cheek."
    assert mara.hand_props == "Brass storm lantern."

    # Cast three. No worker runs yet, so the cards the page shows at once are pending.
    page.locator("#casting input[name=count]").fill("3")
    page.get_by_role("button", name="Cast", exact=True).click()
    expect(cards(page)).to_have_count(3)
    expect(page.locator("#candidate-grid .placeholder.pending")).to_have_count(3)
    for i in range(3):
        expect(cards(page).nth(i).locator(".elapsed")).to_have_text(re.compile(r"^\d+ s$"))
        expect(cards(page).nth(i).locator(".placeholder")).to_contain_text("of ~2 s typical")
        expect(cards(page).nth(i)).to_have_attribute("hx-trigger", "every 1s")
    assert Generation.objects.filter(character=mara, status="queued").count() == 3
    shot("pending")

    # The worker makes them; the cards poll until final, then stop polling.
    qcluster()
    finished = page.locator("#candidate-grid .card.status-succeeded")
    expect(finished).to_have_count(3, timeout=30_000)
    for i in range(3):
        card = finished.nth(i)
        expect(card.locator("img")).to_be_visible()
        expect_loaded(card.locator("img"))
        expect(card.locator(".offline-badge")).to_have_text("offline preview")
    expect(page.locator("#candidate-grid .card[hx-trigger]")).to_have_count(0)
    assert set(Generation.objects.filter(character=mara).values_list("status", flat=True)) == {
        "succeeded"
    }
    shot("finished")

    first, second, third = (cards(page).nth(i) for i in range(3))
    first_id, second_id, third_id = (
        int(c.get_attribute("data-candidate")) for c in (first, second, third)
    )
    card = lambda pk: page.locator(f"#candidate-{pk}")  # noqa: E731 — cards are swapped by id

    # Cull with the keyboard: S shortlists the focused card, X rejects.
    card(first_id).focus()
    page.keyboard.press("s")
    expect(card(first_id)).to_have_class(re.compile(r"\bdecision-shortlisted\b"))
    expect(card(first_id).locator(".decision")).to_have_text("Shortlisted")
    expect(card(first_id).get_by_role("button", name="Unshortlist")).to_be_visible()
    card(second_id).focus()
    page.keyboard.press("x")
    expect(card(second_id)).to_have_class(re.compile(r"\bdecision-rejected\b"))
    expect(card(second_id).locator(".decision")).to_have_text("Rejected")
    expect(card(second_id).get_by_role("button", name="Restore")).to_be_visible()
    expect(card(second_id).get_by_role("button", name="Approve & lock")).to_have_count(0)
    decisions = dict(CastingCandidate.objects.filter(character=mara).values_list("pk", "decision"))
    assert decisions == {first_id: "shortlisted", second_id: "rejected", third_id: "pending"}

    # Enter opens the full view at full resolution; Esc closes it.
    card(first_id).focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#fullview")
    expect(dialog).to_be_visible()
    full_width = CastingCandidate.objects.get(pk=first_id).image.width
    expect(dialog.locator("img")).to_have_attribute("src", re.compile(r"/original$"))
    expect(dialog.locator("img")).to_have_js_property("naturalWidth", full_width)
    shot("full-view")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Compare two ticked candidates: full-size images side by side.
    card(first_id).get_by_label("compare").check()
    card(third_id).get_by_label("compare").check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/compare\?"))
    images = page.locator(".compare-row img")
    expect(images).to_have_count(2)
    for i in range(2):
        expect(images.nth(i)).to_have_js_property("naturalWidth", full_width)
    expect(page.locator(".compare-row figcaption").first).to_contain_text(f"#{first_id}")
    shot("compare")
    page.go_back()
    expect(cards(page)).to_have_count(3)  # the current state, not a cached copy

    # Approve with A, then Enter to the question it asks: the face locks, the 4K upscale runs
    # on the worker, the stage moves on.
    card(first_id).focus()
    page.keyboard.press("a")
    expect(card(first_id).locator(".confirm")).to_contain_text("Lock this face?")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Locked face"))).to_be_visible()
    expect(page.locator("#upscale-status")).to_contain_text(FOUR_K_READY, timeout=30_000)
    expect(page.locator("#upscale-status[hx-trigger]")).to_have_count(0)
    expect(page.locator("#stage-badge")).to_have_text("Sheet")
    expect(page.locator(".history")).to_contain_text(f"{owner.username} approved face")
    shot("locked")
    mara.refresh_from_db()
    assert mara.locked_candidate_id == first_id
    assert mara.locked_candidate.image_4k.height == 4096
    verbs = list(
        Activity.objects.filter(character=mara, actor=owner)
        .order_by("created_at", "pk")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "edited brief",
        "cast candidates",
        "shortlisted candidate",
        "rejected candidate",
        "approved face",
    ]

    page.goto(project.get_absolute_url())
    expect(page.locator(".character-tile .stage-badge")).to_have_text("Sheet")
    expect(page.locator(".character-tile img")).to_be_visible()
    page.go_back()

    # Unlock with a reason: the casting grid comes back with every candidate.
    page.get_by_placeholder("Why unlock?").fill("The director wants an older face.")
    page.get_by_role("button", name="Unlock face").click()
    expect(cards(page)).to_have_count(3)
    expect(card(first_id).locator(".decision")).to_have_text("Shortlisted")
    expect(page.locator("#stage-badge")).to_have_text("Casting")
    expect(page.locator(".history")).to_contain_text("The director wants an older face.")
    shot("unlocked")
    mara.refresh_from_db()
    assert mara.locked_candidate_id is None
    unlocked = Activity.objects.get(character=mara, verb="unlocked face")
    assert unlocked.actor == owner
    assert unlocked.data["reason"] == "The director wants an older face."


def test_casting_flow_with_real_clients(page, login, qcluster, owner, mara, recraft, fake):
    qcluster(**recraft)
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())
    banner = page.locator(".banner.offline")
    if banner.count():
        expect(banner).not_to_contain_text("casting")

    page.locator("#casting input[name=count]").fill("2")
    page.get_by_role("button", name="Cast", exact=True).click()
    expect(cards(page)).to_have_count(2)
    finished = page.locator("#candidate-grid .card.status-succeeded")
    expect(finished).to_have_count(2, timeout=30_000)
    for i in range(2):
        expect_loaded(finished.nth(i).locator("img"))
    expect(page.locator("#candidate-grid .offline-badge")).to_have_count(0)

    casting = Generation.objects.filter(character=mara, stage="casting")
    assert [(g.provider, g.status) for g in casting] == [("recraft", "succeeded")] * 2
    assert all(g.cost_usd > 0 for g in casting)

    finished.first.get_by_role("button", name="Approve & lock").click()
    page.get_by_role("button", name="Yes, approve & lock").click()
    expect(page.locator("#upscale-status")).to_contain_text(FOUR_K_READY, timeout=30_000)
    expect(page.locator(".locked-face .offline-badge")).to_have_count(0)
    upscale = Generation.objects.get(character=mara, stage="upscale")
    assert (upscale.provider, upscale.status) == ("recraft", "succeeded")
    assert upscale.cost_usd > 0

    generations = fake.routed("recraft.generate")
    assert len(generations) == 2
    assert {r.headers["authorization"] for r in generations} == {f"Bearer {RECRAFT_KEY}"}
    assert all(r.json()["model"] == "recraftv3" for r in generations)
    assert len(fake.routed("recraft.upscale")) == 1


def test_a_failing_provider_says_why_and_retry_recovers(
    page, login, shot, qcluster, owner, mara, recraft, fake
):
    fake.add_fault(
        "recraft.generate",
        "status",
        times=100,
        status=400,
        code="invalid_request",
        message="prompt contains words our policy does not allow",
    )
    qcluster(**recraft)
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())
    page.locator("#casting input[name=count]").fill("1")
    page.get_by_role("button", name="Cast", exact=True).click()

    failed = page.locator("#candidate-grid .card.status-failed")
    expect(failed).to_have_count(1, timeout=30_000)
    expect(failed).to_contain_text("Failed")
    expect(failed).to_contain_text(
        "Recraft rejected the request (HTTP 400): prompt contains words our policy does not allow"
    )
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.locator("#candidate-grid .card[hx-trigger]")).to_have_count(0)
    generation = Generation.objects.get(character=mara)
    assert generation.status == "failed" and generation.attempts == 1
    assert len(fake.routed("recraft.generate")) == 1  # a 400 is permanent: no retries
    shot("failed")

    fake.reset()
    failed.get_by_role("button", name="Retry").click()
    succeeded = page.locator("#candidate-grid .card.status-succeeded")
    expect(succeeded).to_have_count(1, timeout=30_000)
    expect_loaded(succeeded.locator("img"))
    expect(page.locator("#candidate-grid .card .error")).to_have_count(0)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error) == ("succeeded", 2, "")
    assert Activity.objects.filter(character=mara, actor=owner, verb="retried generation").exists()


def test_a_double_click_on_cast_sends_one_request(page, login, owner, mara, offline):
    """The Cast button is disabled while its request is in flight: a double click is one paid
    request (the server also refuses a repeat: tests/test_paid_once.py)."""
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())
    held: list[Any] = []  # the cast request, held in flight until the test lets it go
    page.route(f"**{mara.get_absolute_url()}cast", lambda route: held.append(route))
    page.locator("#casting input[name=count]").fill("2")
    button = page.get_by_role("button", name="Cast", exact=True)
    button.dblclick()
    expect(button).to_be_disabled()  # while the first request is on its way
    page.wait_for_timeout(300)
    assert len(held) == 1
    held[0].continue_()
    expect(cards(page)).to_have_count(2)
    page.wait_for_timeout(1000)  # a queued second request would have gone out by now
    assert len(held) == 1, held
    assert Generation.objects.filter(character=mara, stage="casting").count() == 2
    expect(page.locator("#casting .error")).to_have_count(0)
