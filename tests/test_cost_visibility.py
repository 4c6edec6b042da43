"""Costs reach only those allowed to see them: manifest.json and the reference pack, opened as a
guest over a share link and as each role, carry no cost, spend or budget figure unless the
pages would show it (docs/security.md)."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse

from characters.models import Generation, Role

COST = Decimal("0.8765")  # a figure no other field of the manifest would contain
COST_WORDS = ("cost", "spend", "budget", "usd", "price", "credit")


def cost_keys(value, path="") -> list[str]:
    """Every key in the JSON whose name speaks of money."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if any(word in key.lower() for word in COST_WORDS):
                found.append(f"{path}.{key}")
            found += cost_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += cost_keys(item, f"{path}[{index}]")
    return found


@pytest.fixture
def locked(project, character, ready):
    """A character with face and sheet locked, every generation behind them priced."""
    Generation.objects.filter(project=project).update(cost_usd=COST)
    project.budget_usd = Decimal("123.45")
    project.save()
    return character


def _open(client, member, guest_client, who: str):
    if who in ("view-guest", "comment-guest"):
        return guest_client(who.split("-")[0], name="Nadia" if who == "comment-guest" else "")[0]
    client.force_login(member(who, f"{who}-user"))
    return client


def _documents(browser, character) -> dict[str, str]:
    slug = character.project.slug
    manifest = browser.get(reverse("manifest", args=[slug, character.slug]))
    assert manifest.status_code == 200
    pack = browser.get(reverse("reference-pack", args=[slug, character.slug]))
    assert pack.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(pack.streaming_content))) as z:
        packed = z.read("manifest.json").decode()
    return {"manifest.json": manifest.content.decode(), "pack manifest.json": packed}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["view-guest", "comment-guest"])
def test_a_guest_gets_no_cost_in_the_manifest_or_the_pack(
    who, locked, client, member, guest_client
):
    browser = _open(client, member, guest_client, who)
    for name, text in _documents(browser, locked).items():
        assert not cost_keys(json.loads(text)), (name, cost_keys(json.loads(text)))
        assert str(COST) not in text and "123.45" not in text, name


@pytest.mark.django_db
@pytest.mark.parametrize("who", [Role.OWNER, Role.EDITOR, Role.REVIEWER, Role.VIEWER])
def test_members_who_see_costs_on_the_pages_see_them_in_the_manifest(
    who, locked, client, member, guest_client
):
    browser = _open(client, member, guest_client, who)
    for name, text in _documents(browser, locked).items():
        data = json.loads(text)
        assert data["face"]["generation"]["cost_usd"] == str(COST), name
        assert "cost_to_lock" in data, name


@pytest.mark.django_db
def test_a_guest_sees_costs_where_the_project_shows_them(locked, client, member, guest_client):
    locked.project.show_costs_to_guests = True
    locked.project.save()
    browser = _open(client, member, guest_client, "view-guest")
    for name, text in _documents(browser, locked).items():
        assert json.loads(text)["face"]["generation"]["cost_usd"] == str(COST), name
