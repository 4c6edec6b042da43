"""services.projects: projects, characters, briefs, and the budget cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from characters import services
from characters.models import Activity, Character, Generation, Membership, Role
from characters.permissions import Denied


@pytest.mark.django_db
class TestProjectsAndCharacters:
    def test_the_creator_owns_the_new_project(self, owner):
        project = services.project_create(name="Night Ferry", owner=owner)
        assert project.slug == "night-ferry"
        assert Membership.objects.get(project=project).role == Role.OWNER

    def test_characters_get_readable_distinct_slugs(self, project, owner):
        a = services.character_create(project=project, user=owner, name="Mara Quell", brief="x")
        b = services.character_create(project=project, user=owner, name="Mara  Quell!", brief="y")
        assert (a.slug, b.slug) == ("mara-quell", "mara-quell-2")
        assert Activity.objects.filter(verb="created character").count() == 2

    def test_a_viewer_cannot_create_characters(self, project, member):
        with pytest.raises(Denied):
            services.character_create(project=project, user=member(Role.VIEWER), name="X", brief="")
        assert not Character.objects.exists()

    def test_a_brief_edit_records_which_fields_changed(self, character, owner):
        services.character_update_brief(
            character=character, user=owner, wardrobe="Oilskin coat", brief=character.brief
        )
        character.refresh_from_db()
        assert character.wardrobe == "Oilskin coat"
        assert Activity.objects.get(verb="edited brief").data["fields"] == ["wardrobe"]


@pytest.mark.django_db
class TestBudget:
    def test_queued_work_counts_against_the_cap(self, project, character, owner, settings):
        services.project_set_budget(project=project, user=owner, budget_usd=Decimal("0.10"))
        Generation.objects.create(
            project=project,
            character=character,
            stage="casting",
            provider="recraft",
            estimated_cost_usd=Decimal("0.08"),
        )
        assert services.project_committed_spend(project) == Decimal("0.08")
        settings.RECRAFT_API_KEY = "set"  # a paid route, so the estimate is not zero
        with pytest.raises(services.BudgetExceeded, match=r"\$0\.10 budget"):
            services.casting_start(character=character, user=owner, count=1)

    def test_a_negative_cap_is_refused(self, project, owner):
        with pytest.raises(services.ServiceError, match="negative"):
            services.project_set_budget(project=project, user=owner, budget_usd=Decimal(-1))
