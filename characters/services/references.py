"""References in the video provider's asset library: ingest, check, release waiting shots.

Seedance 2.0 refuses photoreal faces sent as images, so a character's locked face and panels
are ingested into its asset library when the sheet is locked and whenever the reference
revision advances (a fix, a revert). Each image becomes a ReferenceAsset: queued → pending →
active, or refused with the provider's words. Shots use `asset://<id>` once every reference
they need is active; until then a shot waits without a generation, so no worker is held.

Waiting never sleeps in a worker. After an upload the asset is read once; whatever is still
pending (or queued again after a transient failure) is due again a few seconds later, and
`reference_checks_due` hands each due row out once, by a conditional UPDATE, to the same
ticker that sends due generation checks (`tasks.DUE_CHECKS`: every second in
`manage.py worker`, every minute from the requeue job under a plain qcluster). When the assets
of a waiting shot are all active, the check starts its render. The work runs on the
video lane, at a lower CPU priority: nobody waits on it at their screen.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from ..generators.routing import provider_for
from ..generators.seedance_assets import AssetLibraryError, library_for, prepare_image
from ..models import Asset, Character, ReferenceAsset, ReferenceGroup, Shot
from ..permissions import Action
from ..storage import asset_read, asset_store
from .core import activity_record, require
from .generations import enqueue_on_lane
from .sheets import panel_crop

log = logging.getLogger(__name__)

SYNC_FUNC = "characters.services.references.references_sync_task"
RELEASE_FUNC = "characters.services.shots.shots_release_waiting"
URL_SALT = "turnaround.reference-file"
URL_MAX_AGE = 24 * 3600  # the provider downloads at once; a day covers retries
# Panels in the order a shot takes them (the face always comes first).
PANEL_ORDER = (
    "face_closeup",
    "front",
    "three_quarter",
    "profile",
    "three_quarter_left",
    "profile_left",
    "back",
    "mid_closeup",
)
MAX_UPLOAD_ATTEMPTS = 5


def library_provider() -> str:
    """Whose asset library the references go to: the shot stage's provider, if it has one."""
    return "seedance" if provider_for("shot") == "seedance" else "offline"


def shots_need_assets() -> bool:
    """Shots send asset:// references only (never a face as an image) on Seedance."""
    return library_provider() == "seedance"


# --- public file URLs (the library downloads by URL) ---------------------------------------


def reference_file_url(asset: Asset) -> str:
    """A signed, expiring, unauthenticated URL of one prepared reference image."""
    token = signing.dumps({"a": asset.pk}, salt=URL_SALT)
    return f"{settings.TURNAROUND_PUBLIC_URL}{reverse('reference-file', args=[token])}"


def reference_file_asset(token: str) -> Asset | None:
    try:
        data = signing.loads(token, salt=URL_SALT, max_age=URL_MAX_AGE)
    except signing.BadSignature:
        return None
    return Asset.objects.filter(pk=data.get("a")).select_related("project").first()


# --- sync: which images are the character's references now -----------------------------------


def references_sync_on_commit(*, character_id: int) -> None:
    transaction.on_commit(
        lambda: enqueue_on_lane(
            SYNC_FUNC,
            character_id,
            lane="video",
            task_name=f"references-{character_id}",
            group="references",
        )
    )


def _desired(character: Character) -> list[tuple[str, Asset]]:
    if character.locked_sheet_id is None or character.locked_candidate_id is None:
        return []
    face = character.locked_candidate.image_4k
    if face is None:
        return []
    panels = {
        p.kind: p
        for p in character.locked_sheet.panels.select_related(
            "crop", "sheet__image", "sheet__character__project"
        )
    }
    wanted = [("face", face)]
    wanted += [(kind, panel_crop(panel=panels[kind])) for kind in PANEL_ORDER if kind in panels]
    return wanted


def references_sync(*, character: Character) -> list[ReferenceAsset]:
    """Mark the character's current reference images, one row each; unchanged images keep
    their row (and their asset). Rows of images no longer used stay, as history."""
    character = Character.objects.select_related(
        "project", "locked_candidate__image_4k", "locked_sheet"
    ).get(pk=character.pk)
    provider = library_provider()
    wanted = _desired(character)
    rows = []
    with transaction.atomic():
        ReferenceAsset.objects.filter(character=character, provider=provider).update(current=False)
        for order, (kind, source) in enumerate(wanted):
            row, _ = ReferenceAsset.objects.get_or_create(
                character=character,
                provider=provider,
                source=source,
                defaults={"kind": kind, "order": order},
            )
            ReferenceAsset.objects.filter(pk=row.pk).update(
                current=True, kind=kind, order=order, revision=character.reference_revision
            )
            rows.append(row)
    return rows


def references_sync_task(character_id: int) -> str:
    character = Character.objects.filter(pk=character_id).first()
    if character is None:
        return "gone"
    references_sync(character=character)
    return references_submit(character=character)


# --- submit and check ------------------------------------------------------------------------


def _group_id(library, character: Character) -> str:
    group = ReferenceGroup.objects.filter(character=character, provider=library.name).first()
    if group is not None:
        return group.group_id
    group_id = library.create_group(
        name=f"{character.project.slug}/{character.slug}",
        description=f"Turnaround references of {character.name} ({character.project.name})",
    )
    ReferenceGroup.objects.get_or_create(
        character=character, provider=library.name, defaults={"group_id": group_id}
    )
    return group_id


def _refuse(row: ReferenceAsset, words: str) -> None:
    ReferenceAsset.objects.filter(pk=row.pk).update(
        status=ReferenceAsset.Status.REFUSED, error=words[:2000], next_check_at=None
    )


def references_submit(*, character: Character) -> str:
    """Upload the character's queued references: prepare each image within the library's
    limits, hand over its URL, read its state once. Transient failures stay queued."""
    provider = library_provider()
    rows = list(
        ReferenceAsset.objects.filter(
            character=character,
            provider=provider,
            current=True,
            status=ReferenceAsset.Status.QUEUED,
        ).select_related("source", "character__project")
    )
    if not rows:
        _release_waiting_shots()
        return "nothing to upload"
    library = library_for(provider)
    now = timezone.now()
    interval = timedelta(seconds=settings.TURNAROUND_REFERENCE_CHECK_INTERVAL)
    try:
        if provider == "seedance" and not settings.TURNAROUND_PUBLIC_URL:
            for row in rows:
                _refuse(
                    row,
                    "Seedance's asset library downloads images by URL: set "
                    "TURNAROUND_PUBLIC_URL to this site's public address.",
                )
            return "no public URL"
        group_id = _group_id(library, character)
        for row in rows:
            prepared, url = None, f"offline:{row.source.sha256}"
            if provider == "seedance":
                data, width, height = prepare_image(asset_read(row.source))
                prepared = asset_store(
                    project=character.project,
                    data=data,
                    mime="image/jpeg",
                    width=width,
                    height=height,
                    derive=False,
                )
                # Recorded first: the file view serves only prepared reference images.
                ReferenceAsset.objects.filter(pk=row.pk).update(prepared=prepared)
                url = reference_file_url(prepared)
            try:
                asset_id = library.create_asset(
                    group_id=group_id, url=url, name=f"{character.slug}-{row.kind}-{row.pk}"
                )
            except AssetLibraryError as exc:
                if not exc.refused:
                    raise
                _refuse(row, exc.message)  # this image only (its limits or content)
                continue
            state = library.get_asset(asset_id)
            ReferenceAsset.objects.filter(pk=row.pk).update(
                prepared=prepared,
                provider_id=asset_id,
                status=state.status,
                error=state.error[:2000],
                attempts=row.attempts + 1,
                next_check_at=now + interval if state.status == "pending" else None,
            )
    except AssetLibraryError as exc:
        left = ReferenceAsset.objects.filter(pk__in=[r.pk for r in rows], status="queued")
        for row in left:
            if exc.permanent:
                # Keys, access, subscription: no image can go until the account is fixed.
                _refuse(row, exc.message)
            elif row.attempts + 1 >= MAX_UPLOAD_ATTEMPTS:
                _refuse(row, f"Gave up after {MAX_UPLOAD_ATTEMPTS} tries: {exc.message}")
            else:
                ReferenceAsset.objects.filter(pk=row.pk).update(
                    attempts=row.attempts + 1,
                    error=exc.message[:2000],
                    next_check_at=now + interval,
                )
    finally:
        library.close()
    _release_waiting_shots()
    return "submitted"


def reference_checks_due(*, now=None) -> list[int]:
    """References whose check (or upload, after a transient failure) is due, handed out once:
    each is moved a lease ahead by a conditional UPDATE, so two dispatchers never send the same
    row twice, and a check lost with a killed worker is sent again after the lease."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=CHECK_LEASE)
    waiting = Q(status=ReferenceAsset.Status.PENDING) & ~Q(provider_id="")
    waiting |= Q(status=ReferenceAsset.Status.QUEUED)
    due = ReferenceAsset.objects.filter(waiting, current=True, next_check_at__lte=now)
    handed = []
    for pk in due.order_by("next_check_at").values_list("pk", flat=True)[:CHECK_BATCH]:
        if due.filter(pk=pk).update(next_check_at=lease):
            handed.append(pk)
    return handed


# A handed-out check that never ran is handed out again after this; at most this many a tick.
CHECK_LEASE = 30
CHECK_BATCH = 200


def references_check(*, ids: list[int], now=None) -> dict[str, int]:
    """Read the pending assets among `ids` (handed out by `reference_checks_due`); upload the
    queued ones again; release shots whose references are all active. Never sleeps."""
    now = now or timezone.now()
    interval = timedelta(seconds=settings.TURNAROUND_REFERENCE_CHECK_INTERVAL)
    counts = {"active": 0, "refused": 0, "pending": 0}
    rows = ReferenceAsset.objects.filter(pk__in=ids, current=True)
    by_provider: dict[str, list[ReferenceAsset]] = {}
    for row in rows.filter(status=ReferenceAsset.Status.PENDING).exclude(provider_id=""):
        by_provider.setdefault(row.provider, []).append(row)
    for provider, pending in by_provider.items():
        library = library_for(provider)
        try:
            for row in pending:
                try:
                    state = library.get_asset(row.provider_id)
                except AssetLibraryError as exc:
                    if exc.permanent:
                        _refuse(row, exc.message)
                        counts["refused"] += 1
                    else:
                        ReferenceAsset.objects.filter(pk=row.pk).update(
                            next_check_at=now + interval
                        )
                        counts["pending"] += 1
                    continue
                ReferenceAsset.objects.filter(pk=row.pk).update(
                    status=state.status,
                    error=state.error[:2000],
                    next_check_at=now + interval if state.status == "pending" else None,
                )
                counts[state.status] += 1
        finally:
            library.close()
    queued = rows.filter(status=ReferenceAsset.Status.QUEUED).values_list("character_id")
    for character in Character.objects.filter(pk__in=queued).select_related("project"):
        references_submit(character=character)
    _release_waiting_shots()
    return counts


def references_check_task(ids: list[int]) -> str:
    counts = references_check(ids=ids)
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def _release_waiting_shots() -> None:
    """Shots start in a task of their own, named by path: shots uses this module, not the
    other way round."""
    if Shot.objects.filter(waiting_for_references=True).exists():
        async_task(RELEASE_FUNC, task_name="release-waiting-shots")


def references_retry(*, character: Character, user) -> int:
    """Send the character's refused references again (after the account or the image was
    fixed): they go back to the queue and upload in a task. Returns how many."""
    require(project=character.project, user=user, action=Action.GENERATE)
    with transaction.atomic():
        count = ReferenceAsset.objects.filter(
            character=character, current=True, status=ReferenceAsset.Status.REFUSED
        ).update(
            status=ReferenceAsset.Status.QUEUED,
            provider_id="",
            error="",
            attempts=0,
            next_check_at=None,
        )
        if count:
            activity_record(
                project=character.project,
                actor=user,
                verb="retried references",
                character=character,
                count=count,
            )
            references_sync_on_commit(character_id=character.pk)
    return count


# --- what a shot uses ------------------------------------------------------------------------


def references_for_character(character: Character) -> list[ReferenceAsset]:
    return list(
        ReferenceAsset.objects.filter(
            character=character, provider=library_provider(), current=True
        ).select_related("source")
    )
