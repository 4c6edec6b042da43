"""The whole pipeline through the real provider clients, over HTTP to the fake provider server.

With keys and base URLs pointing at the fake, casting and the 4K upscale go to Recraft, sheets,
fixes and inspection to Gemini, and shots to Seedance — the same code a team with real keys runs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from characters import services
from characters.models import Annotation, Generation, Shot


@pytest.fixture
def real(fake, settings):
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    settings.TURNAROUND_PROVIDER_READ_TIMEOUT = 20
    return fake


@pytest.mark.django_db
def test_every_stage_runs_through_the_real_clients(
    real, character, owner, cast, approve, run_inline, settings
):
    settings.TURNAROUND_SEEDANCE_POLL_INTERVAL = 0.05
    (candidate,) = cast(character, owner, count=1)
    assert (
        candidate.generation.provider == "recraft" and candidate.generation.status == "succeeded"
    ), candidate.generation.error
    assert candidate.generation.cost_usd > 0
    approve(candidate, owner)
    assert candidate.upscale_generation.provider == "recraft"
    assert candidate.upscale_generation.status == "succeeded", candidate.upscale_generation.error
    assert candidate.image_4k is not None

    (option,) = run_inline(services.sheet_generate, character=character, user=owner, count=1)
    option.refresh_from_db()
    assert option.generation.provider == "gemini" and option.generation.status == "succeeded", (
        option.generation.error
    )
    assert option.generation.cost_usd > Decimal("0.1")
    assert (option.image.width, option.image.height) == (1376, 768)
    assert option.split_method == "detected" and option.panels.count() == 6
    # The sheet request (the split's label check follows it, to the same endpoint).
    body = next(
        r.json()
        for r in reversed(real.routed("gemini.generate"))
        if "imageConfig" in r.json()["generationConfig"]
    )
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "1K"}
    assert (
        len([p for p in body["contents"][0]["parts"] if "inlineData" in p]) == 1
    )  # the locked face
    services.sheet_lock(option=option, user=owner)

    inspection = run_inline(
        services.inspect_start, character=character, user=owner, description="an earbud in shot 2"
    )
    inspection.refresh_from_db()
    assert inspection.status == "succeeded", inspection.error
    flagged = Annotation.objects.get(found_by_inspection=True)
    assert flagged.body.startswith("An earbud appears")

    fix = run_inline(
        services.panel_fix_request, annotation=flagged, user=owner, instruction="Remove the earbud"
    )
    fix.refresh_from_db()
    assert fix.provider == "gemini" and fix.status == "succeeded", fix.error
    flagged.refresh_from_db()
    assert flagged.status == "resolved"
    edit_body = real.routed("gemini.generate")[-1].json()
    assert (
        len([p for p in edit_body["contents"][0]["parts"] if "inlineData" in p]) == 2
    )  # panel + face

    shot = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="She turns",
        characters=[character],
    )
    shot = Shot.objects.get(pk=shot.pk)
    assert shot.generation.provider == "seedance" and shot.generation.status == "succeeded", (
        shot.generation.error
    )
    assert shot.video.mime == "video/mp4" and shot.generation.provider_request_id.startswith("cgt-")
    create = real.routed("ark.create")[-1].json()
    assert [c["role"] for c in create["content"] if c["type"] == "image_url"] == [
        "reference_image"
    ] * len([c for c in create["content"] if c["type"] == "image_url"])
    assert Generation.objects.filter(status="succeeded").count() == Generation.objects.count()


@pytest.mark.django_db
def test_a_budget_cap_refuses_work_past_it(character, owner, monkeypatch):
    from characters.generators.offline import OfflineGenerator

    monkeypatch.setattr(OfflineGenerator, "estimate_cost", lambda self, request: Decimal("0.05"))
    character.project.budget_usd = Decimal("0.10")
    character.project.save()
    with pytest.raises(services.BudgetExceeded, match=r"past its \$0.10 budget"):
        services.casting_start(character=character, user=owner, count=3)
    assert not Generation.objects.exists()
    services.casting_start(character=character, user=owner, count=2)  # queued work counts…
    with pytest.raises(services.BudgetExceeded, match=r"\$0.10 spent or queued"):
        services.casting_start(character=character, user=owner, count=1)  # …against the cap
    assert Generation.objects.count() == 2
