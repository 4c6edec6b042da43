"""What it cost to lock a character: generations by stage, re-rolls, spend and minutes from the
first cast to the locked sheet; the project's table (median, total), its CSV, the manifest."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from characters import selectors, services
from characters.models import Character, Generation, Role


def price(character: Character, per_stage: dict[str, str]) -> None:
    """Charge each generation as a provider's answer would (the offline generator is free)."""
    for stage, usd in per_stage.items():
        Generation.objects.filter(character=character, stage=stage).update(cost_usd=Decimal(usd))


@pytest.fixture
def locked(character, owner, cast, approve, sheets, run_inline):
    """Cast twice (a re-roll), retry nothing, approve one, make two sheets, lock one."""
    cast(character, owner, count=2)
    (picked, _) = cast(character, owner, count=2)
    approve(picked, owner)
    character.refresh_from_db()
    options = sheets(character, owner, count=2)
    price(character, {"casting": "0.04", "upscale": "0.004", "sheet": "0.24"})
    # The first cast was 42 minutes before the lock.
    first = Generation.objects.filter(character=character, stage="casting").order_by("pk").first()
    services.sheet_lock(option=options[0], user=owner)
    character.refresh_from_db()
    Generation.objects.filter(pk=first.pk).update(
        created_at=character.locked_sheet.locked_at - timedelta(minutes=42)
    )
    return character


@pytest.mark.django_db
class TestOneCharacter:
    def test_it_counts_generations_by_stage_rerolls_spend_and_minutes(self, locked):
        cost = selectors.cost_to_lock(locked)
        assert cost.locked
        assert cost.by_stage == {"casting": 4, "upscale": 1, "sheet": 2}
        assert cost.generations == 7
        assert cost.rerolls == 1  # the second cast
        assert cost.spend_usd == Decimal("0.6440")  # 4 x 0.04 + 0.004 + 2 x 0.24
        assert cost.minutes == 42.0

    def test_work_after_the_lock_is_not_part_of_it(self, locked, owner, run_inline):
        before = selectors.cost_to_lock(locked)
        run_inline(
            services.inspect_start, character=locked, user=owner, description="an AirPod in shot 3"
        )
        Generation.objects.filter(character=locked, stage="inspect").update(cost_usd=5)
        after = selectors.cost_to_lock(locked)
        assert Generation.objects.filter(character=locked, stage="inspect").exists()
        assert (after.by_stage, after.spend_usd) == (before.by_stage, before.spend_usd)

    def test_a_retry_counts_as_a_reroll(self, character, owner, cast, run_inline):
        (candidate,) = cast(character, owner, count=1)
        Generation.objects.filter(pk=candidate.generation_id).update(
            status=Generation.Status.FAILED
        )
        run_inline(
            services.generation_retry,
            generation=Generation.objects.get(pk=candidate.generation_id),
            user=owner,
        )
        cost = selectors.cost_to_lock(character)
        assert cost.rerolls == 1 and not cost.locked
        assert cost.minutes is not None  # the time so far

    def test_a_character_never_cast_has_no_figures(self, character):
        cost = selectors.cost_to_lock(character)
        assert cost.started_at is None and cost.minutes is None and cost.generations == 0


@pytest.mark.django_db
class TestTheProject:
    def test_the_table_has_every_character_with_median_and_total(
        self, locked, project, owner, cast
    ):
        other = Character.objects.create(project=project, name="Abel", slug="abel", brief="A man.")
        cast(other, owner, count=3)
        price(other, {"casting": "0.05"})
        costs = selectors.project_costs_to_lock(project)
        assert [r.character.slug for r in costs["rows"]] == ["abel", "mara"]
        assert costs["locked"] == 1
        assert costs["median"]["spend_usd"] == Decimal("0.6440")  # locked characters only
        assert costs["median"]["minutes"] == 42.0
        assert costs["total"]["spend_usd"] == Decimal("0.7940")  # everyone's spend
        assert costs["total"]["generations"] == 10

    def test_the_character_page_shows_the_figures_and_the_table(self, locked, owner_client):
        html = owner_client.get(locked.get_absolute_url()).content.decode()
        assert "What it cost to lock" in html
        assert 'data-figure="spend">$0.64<' in html
        assert 'data-figure="generations">7<' in html
        assert 'data-figure="minutes">42.0 min<' in html
        assert 'data-row="median"' in html and "Export as CSV" in html

    def test_owners_export_it_as_csv(self, locked, owner_client):
        response = owner_client.get(reverse("cost-to-lock-csv", args=["lighthouse"]))
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        mara = next(r for r in rows if r["character"] == "mara")
        assert mara["spend_usd"] == "0.6440" and mara["generations"] == "7"
        assert mara["sheet_generations"] == "2" and mara["minutes"] == "42.0"
        assert [r["character"] for r in rows[-2:]] == ["median", "total"]

    def test_only_owners_may_export(self, locked, client, member):
        client.force_login(member(Role.EDITOR))
        response = client.get(reverse("cost-to-lock-csv", args=["lighthouse"]))
        assert response.status_code == 403
        assert "Export as CSV" not in client.get(locked.get_absolute_url()).content.decode()


@pytest.mark.django_db
class TestWhoSeesIt:
    def test_the_manifest_and_pack_carry_it_for_members(self, locked, owner_client):
        data = owner_client.get(reverse("manifest", args=["lighthouse", "mara"])).json()
        assert data["cost_to_lock"]["spend_usd"] == "0.6440"
        assert data["cost_to_lock"]["generations_by_stage"]["sheet"] == 2
        pack = owner_client.get(reverse("reference-pack", args=["lighthouse", "mara"]))
        with zipfile.ZipFile(io.BytesIO(b"".join(pack.streaming_content))) as z:
            manifest = json.loads(z.read("manifest.json"))
        assert manifest["cost_to_lock"]["minutes"] == 42.0

    def test_guests_never_see_it_unless_the_project_shows_costs(
        self, locked, guest_client, project
    ):
        client, _ = guest_client("view")
        data = client.get(reverse("manifest", args=["lighthouse", "mara"])).json()
        assert "cost_to_lock" not in data
        assert "What it cost to lock" not in client.get(locked.get_absolute_url()).content.decode()
        project.show_costs_to_guests = True
        project.save()
        data = client.get(reverse("manifest", args=["lighthouse", "mara"])).json()
        assert data["cost_to_lock"]["spend_usd"] == "0.6440"
