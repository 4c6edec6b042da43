"""Real-provider routing over loopback to the fake: edits that keep their shape, and the
Seedance asset library (pending, active, refused) as the character and shot pages show it."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from characters import services
from characters.models import (
    Annotation,
    Asset,
    Character,
    Panel,
    PanelRevision,
    ReferenceAsset,
    Shot,
)
from characters.services import references
from characters.storage import asset_read
from tests.library import check_references


@pytest.fixture
def real(fake, settings):
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    settings.TURNAROUND_PROVIDER_READ_TIMEOUT = 30
    settings.TURNAROUND_SEEDANCE_POLL_INTERVAL = 0.05
    return fake


def _locked_sheet(character, owner, cast, approve, run_inline):
    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    (option,) = run_inline(services.sheet_generate, character=character, user=owner, count=1)
    option.refresh_from_db()
    assert option.generation.status == "succeeded", option.generation.error
    run_inline(services.sheet_lock, option=option, user=owner)
    return option


@pytest.mark.django_db
def test_a_square_answer_for_a_1834x1536_panel_is_fitted_not_stretched(
    real, character, owner, cast, approve, run_inline, settings
):
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "4K"  # 5504x3072: room for a 1834x1536 panel
    option = _locked_sheet(character, owner, cast, approve, run_inline)
    panel = option.panels.get(kind="front")
    Panel.objects.filter(pk=panel.pk).update(x=100, y=100, w=1834, h=1536, crop=None)
    panel.refresh_from_db()
    note = services.annotation_create(
        panel=panel, user=owner, body="An earbud", x=0.4, y=0.2, w=0.1, h=0.1, kind="continuity"
    )
    real.add_fault("gemini.generate", "square")  # Gemini answers 1024x1024, whatever was asked
    fix = run_inline(services.panel_fix_request, annotation=note, user=owner, instruction="")
    fix.refresh_from_db()
    assert fix.status == "succeeded", fix.error
    sent = real.routed("gemini.generate")[-1].json()["generationConfig"]["imageConfig"]
    assert sent == {"aspectRatio": "5:4", "imageSize": "2K"}  # what the edit asked for

    revision = PanelRevision.objects.get(panel=panel, number=2)
    assert (revision.image.width, revision.image.height) == (1024, 1024)
    assert "1024×1024" in revision.fit_note and "1834×1536" in revision.fit_note
    option.refresh_from_db()
    sheet = Image.open(io.BytesIO(asset_read(option.image))).convert("RGB")
    original = Image.open(io.BytesIO(asset_read(revision.image))).convert("RGB")
    # The answer sits at 1536x1536 in the middle of the box: compare it with the answer itself.
    placed = sheet.crop((100 + 149, 100, 100 + 149 + 1536, 100 + 1536)).resize((64, 64))
    expected = original.resize((64, 64))
    diff = sum(
        abs(a - b)
        for p, q in zip(placed.get_flattened_data(), expected.get_flattened_data(), strict=True)
        for a, b in zip(p, q, strict=True)
    )
    assert diff / (64 * 64 * 3) < 8  # same picture, same proportions
    strip = sheet.crop((102, 110, 100 + 140, 100 + 1500)).getcolors(maxcolors=4)
    assert strip is not None and len(strip) == 1  # one flat colour: the background, no stretch


@pytest.mark.django_db(transaction=True)
def test_a_refused_reference_holds_the_shot_with_the_providers_words(
    real, character, owner, cast, approve, run_inline, settings, client, live_server
):
    settings.TURNAROUND_PUBLIC_URL = live_server.url  # the fake downloads the images from here
    real.refuse_asset_names = {"mara-profile"}
    _locked_sheet(character, owner, cast, approve, run_inline)
    later = timezone.now() + timedelta(minutes=5)
    check_references(later)
    check_references(later + timedelta(minutes=1))
    states = dict(ReferenceAsset.objects.filter(current=True).values_list("kind", "status"))
    assert states["profile"] == "refused" and states["face"] == "active"
    refused = ReferenceAsset.objects.get(kind="profile", current=True)
    assert "InputImageSensitiveContentDetected" in refused.error

    shot = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="She turns",
        characters=[character],
    )
    shot = Shot.objects.get(pk=shot.pk)
    assert shot.generation is None and not shot.waiting_for_references
    assert "Seedance refused a reference" in shot.held_reason
    assert "Mara Quell's profile view" in shot.held_reason
    assert real.routed("ark.create") == []

    client.force_login(owner)
    page = client.get(character.get_absolute_url()).content.decode()
    assert 'class="reference-asset status-refused" data-kind="profile"' in page
    assert "The asset image may contain sensitive content." in page
    shots_page = client.get(f"/p/{character.project.slug}/shots/").content.decode()
    assert "Seedance refused a reference" in shots_page

    # Once the image would pass, an editor sends the refused one again from the page.
    assert "Send refused references again" in page
    real.refuse_asset_names = set()
    response = client.post(f"{character.get_absolute_url()}references/retry")
    assert response.status_code == 302
    refused.refresh_from_db()
    assert refused.status == "pending" and refused.error == "" and refused.provider_id
    assert ReferenceAsset.objects.filter(current=True, status="refused").count() == 0


@pytest.mark.django_db
def test_without_keys_the_offline_library_runs_the_same_flow(
    character, owner, cast, approve, run_inline, sheets
):
    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    (option,) = sheets(character, owner, count=1)
    run_inline(services.sheet_lock, option=option, user=owner)
    rows = ReferenceAsset.objects.filter(character=character, current=True)
    assert rows.count() == 1 + option.panels.count()
    assert {r.status for r in rows} == {"active"} and {r.provider for r in rows} == {"offline"}
    assert all(r.uri.startswith("asset://offline-asset-") for r in rows)
    # A fix advances the revision: the fixed panel gets a new asset; the others are kept.
    before = set(rows.values_list("pk", flat=True))
    panel = option.panels.get(kind="front")
    note = services.annotation_create(
        panel=panel, user=owner, body="An earbud", x=0.4, y=0.2, w=0.1, h=0.1, kind="continuity"
    )
    run_inline(services.panel_fix_request, annotation=note, user=owner, instruction="")
    after = ReferenceAsset.objects.filter(character=character, current=True)
    assert after.count() == rows.count()
    assert len(set(after.values_list("pk", flat=True)) - before) == 1
    assert (
        after.get(kind="front").revision
        == Character.objects.get(pk=character.pk).reference_revision
    )
    assert Annotation.objects.get(pk=note.pk).status == "resolved"


@pytest.mark.django_db
def test_the_reference_file_link_serves_only_prepared_images_and_expires(
    client, character, settings, monkeypatch
):
    from django.core import signing

    from characters.generators.seedance_assets import prepare_image
    from characters.storage import asset_store
    from tests.fakes.server import portrait_png

    data, _, _ = prepare_image(portrait_png("face", 1, 400, 500))
    prepared = asset_store(project=character.project, data=data, mime="image/jpeg", derive=False)
    other = asset_store(
        project=character.project, data=portrait_png("x", 2, 64, 64), mime="image/png"
    )
    settings.TURNAROUND_PUBLIC_URL = "http://testserver"
    url = references.reference_file_url(prepared).removeprefix("http://testserver")
    assert client.get(url).status_code == 404  # not a reference image (yet): nothing served
    ReferenceAsset.objects.create(
        character=character, provider="seedance", kind="face", source=other, prepared=prepared
    )
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == data
    # Another asset's id under a forged token, or an expired token: the plain 404.
    forged = url.rsplit("/", 1)[0] + "/" + signing.dumps({"a": other.pk}, salt="other")
    assert client.get(forged).status_code == 404
    monkeypatch.setattr(references, "URL_MAX_AGE", -1)  # every link is past its day
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_pending_assets_are_due_checks_handed_out_once_and_release_a_waiting_shot(
    character, owner, cast, approve, run_inline, sheets, settings, fake_provider
):
    """No worker waits: the ticker's due checks (tasks.DUE_CHECKS) hand each pending asset out
    once, the check reads it over signed HTTP, and the waiting shot starts by itself."""
    from django_q.models import Schedule

    from characters import tasks
    from characters.apps import RETIRED_REFERENCE_CHECK_FUNC, ensure_schedules
    from tests.fakes.server import ARK_ACCESS_KEY, ARK_KEY, ARK_SECRET_KEY, LibraryAsset

    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    (option,) = sheets(character, owner, count=1)
    run_inline(services.sheet_lock, option=option, user=owner)
    # From here shots go to Seedance (the fake), whose library holds the character's images,
    # still Processing after upload.
    fake_provider.reset()
    base = fake_provider.base_url
    settings.ARK_API_KEY, settings.ARK_API_BASE = ARK_KEY, f"{base}/ark/api/v3"
    settings.ARK_ACCESS_KEY, settings.ARK_SECRET_KEY = ARK_ACCESS_KEY, ARK_SECRET_KEY
    settings.ARK_ASSET_API_BASE = f"{base}/ark-open"
    settings.TURNAROUND_DOWNLOAD_HOSTS = [base.split("//", 1)[1]]
    settings.TURNAROUND_SEEDANCE_POLL_INTERVAL = 0.05
    fake_provider.asset_gets_to_active = 0
    soon = timezone.now() + timedelta(seconds=30)
    for row in ReferenceAsset.objects.filter(character=character, current=True):
        asset_id = f"asset-20261201000000-{row.pk:05d}"
        fake_provider.assets[asset_id] = LibraryAsset(asset_id, "group-1", "", row.kind, 900, 1200)
        ReferenceAsset.objects.filter(pk=row.pk).update(
            provider="seedance", provider_id=asset_id, status="pending", next_check_at=soon
        )
    shot = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="She turns",
        characters=[character],
    )
    shot = Shot.objects.get(pk=shot.pk)
    assert shot.waiting_for_references and shot.generation is None

    reads = len(fake_provider.requests)
    assert tasks.dispatch_due_checks() == 0  # not due yet: nothing is sent
    assert len(fake_provider.requests) == reads
    ReferenceAsset.objects.update(next_check_at=timezone.now() - timedelta(seconds=1))
    pending = ReferenceAsset.objects.filter(current=True).count()
    assert run_inline(tasks.dispatch_due_checks) == pending  # due: each handed out and checked
    assert set(ReferenceAsset.objects.filter(current=True).values_list("status", flat=True)) == {
        "active"
    }
    assert tasks.dispatch_due_checks() == 0  # active: never checked again
    shot.refresh_from_db()
    assert not shot.waiting_for_references and shot.generation.status == "succeeded", (
        shot.generation.error
    )
    (create,) = fake_provider.routed("ark.create")
    assert all(
        c["image_url"]["url"].startswith("asset://")
        for c in create.json()["content"]
        if c["type"] == "image_url"
    )
    # An older install's reference Schedule is retired by migrate: it would call a task that
    # now takes the rows it checks.
    Schedule.objects.create(func=RETIRED_REFERENCE_CHECK_FUNC, schedule_type="I", minutes=1)
    ensure_schedules(None)
    assert not Schedule.objects.filter(func=RETIRED_REFERENCE_CHECK_FUNC).exists()


@pytest.mark.django_db
def test_a_due_reference_check_is_handed_out_once_and_again_after_its_lease(character, owner):
    """Two dispatchers (two workers' tickers, the minute job) never send the same row twice; a
    check lost with a killed worker is handed out again once its lease runs out."""
    now = timezone.now()
    rows = []
    for n, (kind, status, provider_id) in enumerate(
        (
            ("face", "pending", "asset-1"),
            ("front", "queued", ""),  # an upload due again after a transient failure
            ("back", "pending", ""),  # never uploaded: nothing to read yet
            ("profile", "active", "asset-2"),
        )
    ):
        source = Asset.objects.create(
            project=character.project, file=f"{n}.png", mime="image/png", sha256=f"{n}"
        )
        rows.append(
            ReferenceAsset.objects.create(
                character=character,
                provider="seedance",
                kind=kind,
                source=source,
                status=status,
                provider_id=provider_id,
                next_check_at=now - timedelta(seconds=1),
            )
        )
    first = references.reference_checks_due(now=now)
    assert sorted(first) == sorted([rows[0].pk, rows[1].pk])
    assert references.reference_checks_due(now=now) == []  # the other dispatcher: nothing
    after_lease = now + timedelta(seconds=references.CHECK_LEASE + 1)
    assert sorted(references.reference_checks_due(now=after_lease)) == sorted(first)
