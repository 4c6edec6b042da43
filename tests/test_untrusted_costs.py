"""A provider's reported cost is untrusted: 1e30, -900000, NaN and Infinity from the fake
provider server (real clients, real HTTP) never reach the database. The generation keeps its
estimate, a warning names it, the paid picture is kept, pages answer 200 and budgets hold."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from characters import services
from characters.generators.base import GenerationRequest, Pending
from characters.generators.seedance import SeedanceGenerator
from characters.models import Generation
from tests.fakes.server import RECRAFT_KEY

ABSURD = [1e30, -900000, float("nan"), float("inf")]
ESTIMATE = Decimal("0.04")  # TURNAROUND_PRICES["recraft_generation_estimate"]


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")


@pytest.mark.parametrize("value", ABSURD, ids=["1e30", "-900000", "nan", "inf"])
def test_an_absurd_casting_cost_keeps_the_estimate_and_the_picture(
    value, fake, character, owner, cast, client, admin_user, caplog
):
    fake.add_fault("recraft.generate", "cost", value=value)
    with caplog.at_level(logging.WARNING, logger="characters.services.generations"):
        (candidate,) = cast(character, owner, count=1)
    generation = candidate.generation
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert generation.cost_usd == ESTIMATE
    assert candidate.image is not None and candidate.image.width > 0  # the paid image is kept
    warning = next(r.getMessage() for r in caplog.records if "reported a cost" in r.getMessage())
    assert f"generation {generation.pk}: recraft" in warning
    assert RECRAFT_KEY not in caplog.text

    client.force_login(owner)
    page = client.get(reverse("character", args=[character.project.slug, character.slug]))
    assert page.status_code == 200
    client.force_login(admin_user)
    admin_list = client.get(reverse("admin:characters_generation_changelist"))
    assert admin_list.status_code == 200
    assert str(generation.pk) in admin_list.content.decode()


def test_an_honest_cost_is_kept_as_reported(fake, character, owner, cast):
    fake.add_fault("recraft.generate", "cost", value=37)
    (candidate,) = cast(character, owner, count=1)
    assert candidate.generation.cost_usd == Decimal("0.037")


def test_a_negative_cost_cannot_carry_forty_generations_past_a_one_dollar_budget(
    fake, project, character, owner, cast
):
    project.budget_usd = Decimal("1.00")
    project.save()
    fake.add_fault("recraft.generate", "cost", times=40, value=-900000)
    made = refused = 0
    for _ in range(40):
        try:
            cast(character, owner, count=1)
            made += 1
        except services.BudgetExceeded:
            refused += 1
    spent = sum(g.cost_usd for g in Generation.objects.filter(project=project))
    assert spent <= Decimal("1.00")
    assert made == 25 and refused == 15  # $0.04 each: the 26th would pass $1


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_an_absurd_sheet_cost_from_gemini_keeps_the_sheet(
    value, fake, character, owner, locked_face, sheets, caplog
):
    fake.add_fault("gemini.generate", "cost", value=value)
    with caplog.at_level(logging.WARNING, logger="characters.services.generations"):
        (option,) = sheets(character, owner, count=1)
    generation = option.generation
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert generation.cost_usd == generation.estimated_cost_usd > 0
    assert option.image is not None
    assert f"generation {generation.pk}: gemini" in caplog.text


@pytest.mark.parametrize("value", ABSURD, ids=["1e30", "-900000", "nan", "inf"])
def test_seedance_reports_an_absurd_cost_as_is_for_the_runner_to_refuse(value, fake, fast):
    """The client no longer drops a float token count silently (or crashes on it): the figure
    reaches the runner's check, which keeps the estimate."""
    fake.inline_faces_are_photoreal = False
    fake.add_fault("ark.poll", "cost", times=20, value=value)
    generator = SeedanceGenerator(poll_interval=0.5, **fast)
    try:
        request = GenerationRequest(stage="shot", prompt="[Image 1] walks", seed=1)
        outcome = generator.generate(request)
        for _ in range(10):
            if not isinstance(outcome, Pending):
                break
            outcome = generator.generate(
                GenerationRequest(**{**request.__dict__, "resume_id": outcome.task_id})
            )
    finally:
        generator.close()
    assert outcome.assets and outcome.assets[0].data
    generation = Generation(pk=7, provider="seedance", estimated_cost_usd=Decimal("0.80"))
    assert services.generation_cost(generation=generation, reported=outcome.cost_usd) == Decimal(
        "0.80"
    )


def test_the_maximum_is_a_setting(fake, character, owner, cast, settings):
    settings.TURNAROUND_MAX_GENERATION_COST_USD = Decimal("0.01")
    fake.add_fault("recraft.generate", "cost", value=30)
    (candidate,) = cast(character, owner, count=1)  # $0.03 is over this maximum
    assert candidate.generation.cost_usd == ESTIMATE
    settings.TURNAROUND_MAX_GENERATION_COST_USD = Decimal("50")
    fake.add_fault("recraft.generate", "cost", value=7)
    (candidate,) = cast(character, owner, count=1)
    assert candidate.generation.cost_usd == Decimal("0.007")
