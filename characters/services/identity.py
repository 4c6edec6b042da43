"""Identity: is every panel the same person as the locked face? Scored in the background.

A sheet is scored after it is stored and split, and a panel again after every new revision (a
fix or a revert must not change who it is). The work is its own django-q2 task, enqueued on
commit and independent of the generation that made the sheet, so the sheet card never waits
for it. Scoring is idempotent: a panel revision that has its score is skipped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from statistics import fmean

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery

from .. import identity, imaging
from ..models import Asset, IdentityScore, Panel, SheetOption
from ..storage import asset_read
from .core import activity_record
from .generations import enqueue_on_lane

log = logging.getLogger(__name__)

# Locked faces already embedded in this worker, by content hash: a face is measured once per
# process however many sheets are made from it.
_REFERENCES: OrderedDict[str, identity.Face | None] = OrderedDict()
_REFERENCES_KEPT = 32
# Scores run with the follow-up work nobody waits for at their screen (the worker command loads
# the face models before forking this lane's workers, so they share one copy).
IDENTITY_LANE = "video"


def identity_enqueue(*, option_id: int) -> None:
    """Score the sheet's panels once this transaction commits (never inside it)."""
    transaction.on_commit(
        lambda: enqueue_on_lane(
            "characters.tasks.score_identity",
            option_id,
            lane=IDENTITY_LANE,
            task_name=f"identity-{option_id}",
            group="identity",
        )
    )


def reference_face(asset: Asset) -> identity.Face | None:
    if asset.sha256 in _REFERENCES:
        _REFERENCES.move_to_end(asset.sha256)
        return _REFERENCES[asset.sha256]
    face = identity.face_in(imaging.open_trusted(asset_read(asset)))
    _REFERENCES[asset.sha256] = face
    while len(_REFERENCES) > _REFERENCES_KEPT:
        _REFERENCES.popitem(last=False)
    return face


def _reference_asset(option: SheetOption) -> Asset | None:
    candidate = option.source_candidate
    return candidate.image or candidate.image_4k


def identity_score_sheet(*, option: SheetOption) -> list[IdentityScore]:
    """Score each panel whose current revision has no score yet; returns the new scores."""
    option = SheetOption.objects.select_related(
        "image", "source_candidate__image", "source_candidate__image_4k", "character__project"
    ).get(pk=option.pk)
    panels = list(option.panels.select_related("current_revision__image").order_by("order"))
    done = set(
        IdentityScore.objects.filter(panel__sheet=option).values_list("panel_id", "revision_id")
    )
    todo = [p for p in panels if (p.pk, p.current_revision_id) not in done]
    reference_asset = _reference_asset(option)
    if not todo or option.image is None or reference_asset is None:
        return []
    reference = reference_face(reference_asset)
    sheet = None
    scores = []
    for panel in todo:
        started = time.perf_counter()
        if panel.current_revision_id is not None:
            picture = imaging.open_trusted(asset_read(panel.current_revision.image))
        else:
            if sheet is None:
                sheet = imaging.open_trusted(asset_read(option.image))
            picture = sheet.crop((panel.x, panel.y, panel.x + panel.w, panel.y + panel.h))
        result = identity.compare(reference, identity.face_in(picture))
        scores.append(
            IdentityScore(
                panel=panel,
                revision_id=panel.current_revision_id,
                reference=reference_asset,
                distance=result.distance,
                threshold=result.threshold,
                verdict=result.verdict,
                model=identity.MODEL_NAME,
                seconds=round(time.perf_counter() - started, 4),
            )
        )
    try:
        with transaction.atomic():
            # A redelivered task may have scored the same revisions meanwhile: theirs stands.
            IdentityScore.objects.bulk_create(scores, ignore_conflicts=True)
            _record_flags(option, scores)
    except IntegrityError:
        # The sheet was re-split (its panels replaced) while we measured: the task enqueued by
        # that re-split scores the new panels.
        log.info("sheet %s: panels changed while scoring; left to the next task", option.pk)
        return []
    return scores


def _record_flags(option: SheetOption, scores: list[IdentityScore]) -> None:
    """A new revision that may be someone else goes in the history, where the fix is."""
    for score in scores:
        panel = score.panel
        if score.revision_id is not None and score.flagged:
            activity_record(
                project=option.character.project,
                actor=None,
                verb="flagged a panel that may be someone else",
                target=panel,
                character=option.character,
                panel=panel.kind,
                number=panel.current_revision.number,
                distance=round(score.distance, 3),
                threshold=score.threshold,
            )


def identity_forget_box(*, panel: Panel) -> None:
    """A panel's box changed: its original score no longer describes it (re-scored on commit)."""
    if panel.current_revision_id is None:
        IdentityScore.objects.filter(panel=panel, revision__isnull=True).delete()
    identity_enqueue(option_id=panel.sheet_id)


def current_scores(panels: list[Panel]) -> dict[int, IdentityScore]:
    """Each panel's score for its current revision, in one query (missing while measuring)."""
    if not panels:
        return {}
    current = {p.pk: p.current_revision_id for p in panels}
    return {
        s.panel_id: s
        for s in IdentityScore.objects.filter(panel_id__in=current)
        if current[s.panel_id] == s.revision_id
    }


def identity_summary(panels: list[Panel], scores: dict[int, IdentityScore]) -> dict:
    """An option's consistency: the mean and worst distance of its faces to the locked face,
    which panels may be someone else, which show no face, and how many are still measuring."""
    measured = [(p, scores[p.pk]) for p in panels if p.pk in scores]
    distances = [s.distance for _, s in measured if s.distance is not None]
    return {
        "panels": len(panels),
        "measured": len(measured),
        "pending": len(panels) - len(measured),
        "faces": len(distances),
        "consistency": round(fmean(distances), 3) if distances else None,
        "worst": round(max(distances), 3) if distances else None,
        "flagged": [p.kind for p, s in measured if s.flagged],
        "no_face": [p.kind for p, s in measured if s.verdict == IdentityScore.Verdict.NO_FACE],
        "no_reference": any(s.verdict == IdentityScore.Verdict.NO_REFERENCE for _, s in measured),
        "threshold": identity.THRESHOLD,
        "model": identity.MODEL_NAME,
    }


def options_identity(options: list[SheetOption]) -> dict[int, dict]:
    """Each option's identity summary by option id, in one query: its panels, each with the
    score of its current revision (the original's while it has no history) alongside. Options
    not split yet have no panels to measure: no query for them."""
    options = [o for o in options if o.split_method]
    if not options:
        return {}
    current = IdentityScore.objects.filter(panel=OuterRef("pk")).filter(
        Q(revision=OuterRef("current_revision"))
        | Q(revision__isnull=True, panel__current_revision__isnull=True)
    )
    rows = (
        Panel.objects.filter(sheet_id__in=[o.pk for o in options])
        .annotate(
            score_verdict=Subquery(current.values("verdict")[:1]),
            score_distance=Subquery(current.values("distance")[:1]),
        )
        .only("id", "sheet_id", "kind", "order", "current_revision_id")
        .order_by("order", "id")
    )
    panels: dict[int, list[Panel]] = {o.pk: [] for o in options}
    scores: dict[int, IdentityScore] = {}
    for panel in rows:
        panels[panel.sheet_id].append(panel)
        if panel.score_verdict:
            scores[panel.pk] = IdentityScore(
                verdict=panel.score_verdict,
                distance=panel.score_distance,
                threshold=identity.THRESHOLD,
            )
    return {pk: identity_summary(group, scores) for pk, group in panels.items()}


def option_identity(option: SheetOption) -> dict:
    panels = list(option.panels.all())
    return identity_summary(panels, current_scores(panels))
