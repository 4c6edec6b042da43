"""In real Chromium: an owner makes a comment share link on the settings page, a visitor
without an account opens it, gives a name, finds a character and comments; the owner sees it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from characters import services
from characters.models import Activity, Character
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser]


def test_a_guest_comments_through_a_share_link(live_server, transactional_db, chromium):
    browser = chromium
    owner = get_user_model().objects.create_user("olive", "olive@example.com", PASSWORD)
    project = services.project_create(name="The Lighthouse", owner=owner, slug="lighthouse")
    Character.objects.create(project=project, name="Mara Quell", slug="mara", brief="A woman.")

    owner_page = browser.new_context().new_page()
    owner_page.set_default_timeout(15_000)
    owner_page.goto(f"{live_server.url}/login/")
    owner_page.fill("input[name=username]", "olive")
    owner_page.fill("input[name=password]", PASSWORD)
    owner_page.click("button[type=submit]")
    owner_page.goto(f"{live_server.url}/p/lighthouse/settings")
    owner_page.select_option("select[name=permission]", "comment")
    owner_page.click("text=Create share link")
    share_url = owner_page.input_value("#new-share-url")
    assert "/s/" in share_url

    guest = browser.new_context().new_page()
    guest.set_default_timeout(15_000)
    guest.goto(share_url)
    guest.fill("input[name=name]", "Nadia")
    guest.click("text=Open the project")
    guest.wait_for_url(f"{live_server.url}/p/lighthouse/")
    assert "Guest: Nadia" in guest.inner_text("header")
    guest.click("text=Mara Quell")
    guest.fill("textarea[name=text]", "The scar should be on the left cheek @olive")
    guest.click("#comment-form button[type=submit]")
    guest.locator("#history", has_text="The scar should be on the left cheek").wait_for()

    assert Activity.objects.filter(verb="commented", actor_name="Nadia (guest)").exists()
    owner_page.goto(f"{live_server.url}/p/lighthouse/c/mara/")
    history = owner_page.inner_text("#history")
    assert "Nadia (guest)" in history and "The scar should be on the left cheek" in history
    assert "1" in owner_page.inner_text("#unread-count")
