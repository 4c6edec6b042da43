"""Review at a team's pace, in real Chromium (issue 17): approve asks once (Enter accepts, Esc
cancels), culling in full view, approve from Compare, lock from Compare panels, invite → sign-up
→ role, two tabs deciding at once, and the layout from a 390 px phone to a 2560 px monitor.

The state each test starts from is made with the services, run inline in the test process (the
offline generator, no worker): what is tested here is the page, its keys and its swaps.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from characters import services
from characters.models import CastingCandidate, Character, Invite, Membership, Role
from tests.browser.conftest import RESULTS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser]


@pytest.fixture
def offline(settings: Any) -> None:
    settings.RECRAFT_API_KEY = settings.GEMINI_API_KEY = settings.ARK_API_KEY = ""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    settings.TURNAROUND_UPSCALE_TARGET = 1024


@pytest.fixture
def mara(transactional_db: None, project: Any, offline: None) -> Character:
    return Character.objects.create(
        project=project, name="Mara Quell", slug="mara", brief="A lighthouse keeper, grey hair."
    )


def cast(character: Character, user: Any, count: int) -> list[CastingCandidate]:
    candidates = services.casting_start(character=character, user=user, count=count)
    for c in candidates:
        c.refresh_from_db()
        assert c.image_id, "the offline generator made the portrait inline"
    return candidates


def card(page: Any, candidate: CastingCandidate) -> Any:
    return page.locator(f"#candidate-{candidate.pk}")


def test_culling_in_full_view_then_approve_with_confirm(page, login, shot, owner, mara):
    a, b, c = cast(mara, owner, 3)
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())

    # Enter opens the full view on the focused card: a review mode with a counter.
    card(page, a).focus()
    expect(card(page, a)).to_have_class(re.compile(r"\bfocused\b"))
    page.keyboard.press("Enter")
    full = page.locator("#fullview")
    expect(full).to_be_visible()
    expect(full.locator(".counter")).to_have_text("1 / 3")
    # → moves to the next candidate at full size; S shortlists the one shown.
    page.keyboard.press("ArrowRight")
    expect(full.locator(".counter")).to_have_text("2 / 3")
    expect(full.locator("img")).to_have_attribute("src", re.compile(rf"/{b.image_id}/original$"))
    page.keyboard.press("s")
    expect(full.locator(".state")).to_have_text("Shortlisted")
    expect(full.locator(".state")).to_have_attribute("data-decision", "shortlisted")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")
    expect(full.locator(".counter")).to_have_text("3 / 3")
    expect(full.locator(".state")).to_have_text("Rejected")
    shot("full-view-culling")
    page.keyboard.press("ArrowLeft")
    expect(full.locator(".counter")).to_have_text("2 / 3")
    page.keyboard.press("Escape")
    expect(full).to_be_hidden()
    expect(card(page, b)).to_be_focused()  # closing leaves you on the one last shown
    decisions = dict(CastingCandidate.objects.filter(character=mara).values_list("pk", "decision"))
    assert decisions == {a.pk: "pending", b.pk: "shortlisted", c.pk: "rejected"}
    # Focus and decision look different, and not by colour alone: a dashed ring, a mark.
    ring = card(page, b).evaluate("el => getComputedStyle(el).outlineStyle")
    mark = (
        card(page, b)
        .locator(".decision")
        .evaluate("el => getComputedStyle(el, '::before').content")
    )
    assert ring == "dashed" and "✓" in mark

    # A asks once; Esc cancels and nothing is locked.
    card(page, b).focus()
    page.keyboard.press("a")
    question = card(page, b).locator(".confirm")
    expect(question).to_contain_text("Lock this face?")
    expect(question.get_by_role("button", name="Yes, approve & lock")).to_be_focused()
    shot("confirm")
    page.keyboard.press("Escape")
    expect(card(page, b).locator(".confirm")).to_have_count(0)
    mara.refresh_from_db()
    assert mara.locked_candidate_id is None

    # A again, then Enter: locked.
    card(page, b).focus()
    page.keyboard.press("a")
    expect(card(page, b).get_by_role("button", name="Yes, approve & lock")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Locked face"))).to_be_visible()
    expect(page.locator("#stage-badge")).to_have_text("Sheet")
    expect(page.locator("#history")).to_contain_text("approved face")
    mara.refresh_from_db()
    assert mara.locked_candidate_id == b.pk


def test_approve_from_compare(page, login, owner, mara):
    a, b = cast(mara, owner, 2)
    login(owner.username, PASSWORD)
    page.goto(f"{mara.get_absolute_url()}compare?c={a.pk}&c={b.pk}")
    figure = page.locator(".compare-row figure").nth(1)
    expect(figure).to_contain_text(f"#{b.pk}")
    figure.get_by_role("button", name="Approve & lock").click()
    expect(page.locator("h1")).to_have_text("Lock this face?")
    expect(page.get_by_role("button", name="Yes, approve & lock")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/c/mara/$"))
    expect(page.locator("#stage-badge")).to_have_text("Sheet")
    mara.refresh_from_db()
    assert mara.locked_candidate_id == b.pk


def test_lock_from_compare_panels(page, login, shot, owner, mara):
    (face,) = cast(mara, owner, 1)
    services.candidate_approve(candidate=face, user=owner)
    _, second = services.sheet_generate(character=mara, user=owner, count=2)
    login(owner.username, PASSWORD)
    page.goto(f"{mara.get_absolute_url()}sheets/compare?kind=profile")
    expect(page.locator(".compare-row figure")).to_have_count(3)
    page.get_by_role("button", name="Lock option 2").click()
    expect(page.locator("h1")).to_have_text("Lock sheet option 2?")
    shot("confirm-page")
    page.get_by_role("button", name="Yes, lock this sheet").click()
    page.wait_for_url(re.compile(r"/c/mara/#sheets$"))
    expect(page.locator("#stage-badge")).to_have_text("Ready")
    expect(page.get_by_role("link", name="Download reference pack")).to_be_visible()
    mara.refresh_from_db()
    assert mara.locked_sheet_id == second.pk
    page.goto(f"{mara.get_absolute_url()}sheets/compare?kind=profile")
    expect(page.get_by_role("button", name=re.compile("Lock option"))).to_have_count(0)


def test_invite_sign_up_and_join_with_the_role(chromium, live_server, page, login, owner, mara):
    login(owner.username, PASSWORD)
    page.goto(f"/p/{mara.project.slug}/settings")
    page.get_by_label("Username or e-mail").fill("nadia@example.com")
    page.locator(".add-member select[name=role]").select_option("editor")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".msg.success")).to_contain_text("Invite sent to nadia@example.com")
    link = page.input_value("#new-invite-url")
    assert "/invite/" in link
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("button[data-copy='#new-invite-url']")).to_have_text("Copied")
    from django.core import mail

    assert mail.outbox and link in mail.outbox[-1].body

    newcomer = chromium.new_context(base_url=live_server.url).new_page()
    newcomer.set_default_timeout(15_000)
    newcomer.goto(link)
    expect(newcomer.locator("h1")).to_have_text("Join The Lighthouse")
    expect(newcomer.get_by_label("E-mail address")).to_have_value("nadia@example.com")
    newcomer.get_by_label("Username").fill("nadia")
    newcomer.get_by_label("Password", exact=True).fill("a long pass phrase 42")
    newcomer.get_by_label("Password confirmation").fill("a long pass phrase 42")
    newcomer.get_by_role("button", name="Create my account and join").click()
    newcomer.wait_for_url(re.compile(r"/p/lighthouse/$"))
    expect(newcomer.locator(".msg.success")).to_contain_text("you are editor here")
    expect(newcomer.locator("header .who")).to_contain_text("nadia · editor")
    nadia = get_user_model().objects.get(username="nadia")
    assert Membership.objects.get(project=mara.project, user=nadia).role == Role.EDITOR
    assert Invite.objects.get().used_by == nadia
    # An editor may generate: the character page offers Cast.
    newcomer.goto(mara.get_absolute_url())
    expect(newcomer.get_by_role("button", name="Cast", exact=True)).to_be_visible()
    # The link worked once.
    other = chromium.new_context(base_url=live_server.url).new_page()
    response = other.goto(link)
    assert response.status == 410
    expect(other.locator("h1")).to_have_text("This invite no longer works")
    newcomer.context.close()
    other.context.close()


def test_two_tabs_approving_at_once(page, login, owner, mara):
    a, b = cast(mara, owner, 2)
    login(owner.username, PASSWORD)
    page.goto(mara.get_absolute_url())
    other = page.context.new_page()
    other.goto(mara.get_absolute_url())

    card(page, a).get_by_role("button", name="Approve & lock").click()
    page.get_by_role("button", name="Yes, approve & lock").click()
    expect(page.locator("#stage-badge")).to_have_text("Sheet")

    # The other tab still shows the grid; approving b there is refused, and its stage becomes
    # the locked face (not one card stretched over the stage), with the reason on top.
    card(other, b).get_by_role("button", name="Approve & lock").click()
    other.get_by_role("button", name="Yes, approve & lock").click()
    alert = other.locator("#stage > [role=alert]")
    expect(alert).to_contain_text("already locked")
    expect(other.get_by_role("heading", name=re.compile("Locked face"))).to_be_visible()
    expect(other.locator("#candidate-grid")).to_have_count(0)
    expect(other.locator("#stage-badge")).to_have_text("Sheet")
    expect(other.locator("#history")).to_contain_text("approved face")
    box = other.locator("#stage").bounding_box()
    assert box["width"] > 500  # the stage, not a card, fills its column
    other.screenshot(path=str(RESULTS / "test_two_tabs_approving_at_once-conflict.png"))
    mara.refresh_from_db()
    assert mara.locked_candidate_id == a.pk


PAGES = ("board", "character", "compare", "settings", "sheets")


@pytest.mark.parametrize("width", [390, 2560])
def test_no_page_runs_off_the_side(chromium, live_server, login, owner, mara, width, shot, page):
    candidates = cast(mara, owner, 4)
    services.candidate_decide(candidate=candidates[0], user=owner, decision="shortlisted")
    ready = Character.objects.create(
        project=mara.project, name="Ines Varga", slug="ines", brief="x"
    )
    (face,) = cast(ready, owner, 1)
    services.candidate_approve(candidate=face, user=owner)
    services.sheet_generate(character=ready, user=owner, count=2)
    urls = {
        "board": f"/p/{mara.project.slug}/",
        "character": mara.get_absolute_url(),
        "compare": f"{mara.get_absolute_url()}compare?c={candidates[0].pk}&c={candidates[1].pk}",
        "settings": f"/p/{mara.project.slug}/settings",
        "sheets": ready.get_absolute_url(),
    }
    login(owner.username, PASSWORD)
    page.set_viewport_size({"width": width, "height": 900 if width < 1000 else 1440})
    for name in PAGES:
        page.goto(urls[name])
        page.wait_for_load_state("load")
        shot(f"{name}-{width}")
        wide = page.evaluate(
            """() => [document.documentElement.scrollWidth, innerWidth,
                 [...document.querySelectorAll('body *')].filter(e => {
                   const r = e.getBoundingClientRect();
                   return r.width && r.right > innerWidth + 1 && !e.closest('dialog');
                 }).slice(0, 5).map(e => e.tagName + '.' + e.className)]"""
        )
        assert wide[0] <= wide[1], f"{name} at {width}px is {wide[0]}px wide: {wide[2]}"
    if width == 2560:
        # A large screen is used: the casting grid shows every card in one row, not a strip.
        page.goto(urls["character"])
        row = page.evaluate(
            "() => new Set([...document.querySelectorAll('#candidate-grid .card')]"
            ".map(c => Math.round(c.getBoundingClientRect().top))).size"
        )
        grid = page.locator("#candidate-grid").bounding_box()
        assert row == 1 and grid["width"] > 1600
