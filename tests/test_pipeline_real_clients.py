"""The whole pipeline through the real provider clients, over HTTP to the fake provider server.

With keys and base URLs pointing at the fake, casting and the 4K upscale go to Recraft, sheets,
fixes and inspection to Gemini, and shots to Seedance — the same code a team with real keys runs.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from characters import services
from characters.models import Annotation, Character, Generation, ReferenceAsset
from tests.library import check_references


@pytest.fixture
def real(fake, settings):
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    settings.TURNAROUND_PROVIDER_READ_TIMEOUT = 20
    return fake


def _through_sheet(character, owner, cast, approve, run_inline):
    (candidate,) = cast(character, owner, count=1)
    assert candidate.generation.status == "succeeded", candidate.generation.error
    approve(candidate, owner)
    (option,) = run_inline(services.sheet_generate, character=character, user=owner, count=1)
    option.refresh_from_db()
    assert option.generation.status == "succeeded", option.generation.error
    return candidate, option


@pytest.mark.django_db(transaction=True)
def test_every_stage_runs_through_the_real_clients(
    real, character, owner, cast, approve, run_inline, settings, live_server, client
):
    """cast → upscale → sheet → inspect → edit → shot with two characters, every reference
    of the shot an asset:// id of Seedance's library; no face ever goes inline."""
    settings.TURNAROUND_SEEDANCE_POLL_INTERVAL = 0.05
    settings.TURNAROUND_PUBLIC_URL = live_server.url  # the library downloads from here
    candidate, option = _through_sheet(character, owner, cast, approve, run_inline)
    assert candidate.generation.provider == "recraft" and candidate.generation.cost_usd > 0
    assert candidate.upscale_generation.provider == "recraft"
    assert candidate.upscale_generation.status == "succeeded", candidate.upscale_generation.error
    assert option.generation.provider == "gemini"
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
    assert len([p for p in body["contents"][0]["parts"] if "inlineData" in p]) == 1  # the face
    run_inline(services.sheet_lock, option=option, user=owner)

    # Locking the sheet sent the face and the six panels to the library: a group, 7 assets,
    # each read once after upload and still pending.
    rows = ReferenceAsset.objects.filter(character=character, current=True)
    assert rows.count() == 7 and {r.status for r in rows} == {"pending"}
    assert len(real.groups) == 1 and len(real.assets) == 7
    assert all(a.width >= 300 and a.height >= 300 for a in real.assets.values())
    page = client_page(client, owner, character)
    assert page.count('class="reference-asset status-pending"') == 7

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
    assert len([p for p in edit_body["contents"][0]["parts"] if "inlineData" in p]) == 2
    assert set(edit_body["generationConfig"]["imageConfig"]) == {"aspectRatio", "imageSize"}
    # The fix advanced the revision: its new panel is a new asset; the rest are reused.
    assert len(real.assets) == 8

    jon = Character.objects.create(
        project=character.project, name="Jon Vale", slug="jon", brief="A tall man, 30s."
    )
    _, jon_option = _through_sheet(jon, owner, cast, approve, run_inline)
    run_inline(services.sheet_lock, option=jon_option, user=owner)

    shot = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="[Image 1] turns to [Image 5]",
        characters=[character, jon],
    )
    shot.refresh_from_db()
    # Assets are pending: the shot waits, with no generation and no worker held.
    assert shot.waiting_for_references and shot.generation is None
    assert "Waiting for Seedance to accept" in shot.held_reason
    assert real.routed("ark.create") == []

    later = timezone.now() + timedelta(minutes=5)  # the scheduled checks, run as they would be
    check_references(later)
    check_references(later + timedelta(minutes=1))
    assert set(ReferenceAsset.objects.filter(current=True).values_list("status", flat=True)) == {
        "active"
    }
    shot.refresh_from_db()
    assert not shot.waiting_for_references and shot.held_reason == ""
    assert shot.generation.provider == "seedance" and shot.generation.status == "succeeded", (
        shot.generation.error
    )
    assert shot.video.mime == "video/mp4" and shot.generation.provider_request_id.startswith("cgt-")

    (create,) = real.routed("ark.create")
    sent = create.json()
    urls = [c["image_url"]["url"] for c in sent["content"] if c["type"] == "image_url"]
    assert len(urls) == 8 and all(u.startswith("asset://") for u in urls)
    assert not any("data:" in c.get("image_url", {}).get("url", "") for c in sent["content"])
    assert b"data:image" not in create.body
    # The prompt names every image, four per character (cast in name order).
    text = sent["content"][0]["text"]
    assert "[Image 1] is Jon Vale's face.\n[Image 2] is Jon Vale's face close-up." in text
    assert "[Image 5] is Mara Quell's face." in text
    assert "[Image 8] is Mara Quell's three quarter view." in text
    page = client_page(client, owner, character)
    assert page.count('class="reference-asset status-active"') == 7
    assert Generation.objects.filter(status="succeeded").count() == Generation.objects.count()


def client_page(client, owner, character) -> str:
    client.force_login(owner)
    response = client.get(character.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


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
