"""Continuity: annotations, rules, inspection, fixes at the source, reverts.

Long because the loop is one area: a note, its inspection and its fix share their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .. import imaging, prompts
from ..access import Access

# --- continuity: annotations and rules ---------------------------------------------------------
from ..generators.base import (
    EditSpec,
    GenerationRequest,
    GenerationResult,
    InspectSpec,
    ReferenceImage,
)
from ..models import (
    Annotation,
    Asset,
    Character,
    ContinuityRule,
    FixBatch,
    Generation,
    IdentityScore,
    Panel,
    PanelRevision,
    ReferenceChange,
    SheetOption,
    ShotNote,
    Stage,
)
from ..permissions import Action
from ..storage import asset_read, asset_store
from .core import (
    ServiceError,
    access_for,
    activity_record,
    character_advance_revision,
    clean_box,
    clean_text,
    require,
)
from .generations import generation_create, keep_result
from .identity import identity_enqueue
from .sheets import character_rules, panel_crop, panel_reference
from .team import notify_mentions


def _validate_region(x: float, y: float, w: float, h: float) -> None:
    values = (x, y, w, h)
    if any(v is None for v in values):
        raise ServiceError("Draw a box on the panel first.")
    clean_box(values, on="panel")


def _author_fields(access: Access) -> dict:
    if not access.is_guest:
        return {"author": access.user, "guest_name": ""}
    if not access.guest_name:
        raise ServiceError("Enter your name so the team knows who wrote this.")
    return {"author": None, "guest_name": access.guest_name}


def annotation_create(
    *,
    panel: Panel,
    body: str,
    x: float,
    y: float,
    w: float,
    h: float,
    kind: str = "note",
    user: AbstractBaseUser | None = None,
    access: Access | None = None,
) -> Annotation:
    """A box drawn on a panel with a comment, tied to the panel revision it was drawn on.
    A member passes `user`; a view passes the request's `access` (members and guests alike)."""
    character = panel.sheet.character
    access = access_for(project=character.project, user=user, access=access)
    access.require(Action.ANNOTATE)
    return _annotation_add(
        panel=panel,
        body=body,
        region=(x, y, w, h),
        kind=kind,
        author=_author_fields(access),
        actor=access.actor,
        actor_name=access.actor_name,
    )


def _annotation_add(
    *,
    panel: Panel,
    body: str,
    region: tuple[float, float, float, float],
    kind: str,
    author: dict,
    actor: AbstractBaseUser | None,
    actor_name: str,
    found_by_inspection: bool = False,
    inspection: Generation | None = None,
) -> Annotation:
    character = panel.sheet.character
    x, y, w, h = region
    body = clean_text(
        body, field="note", required="Write what is wrong or worth noting in the box."
    )
    if kind not in Annotation.Kind.values:
        raise ServiceError("Choose note or continuity error.")
    _validate_region(x, y, w, h)
    with transaction.atomic():
        annotation = Annotation.objects.create(
            panel=panel,
            revision=panel.current_revision,
            body=body,
            kind=kind,
            x=min(max(x, 0.0), 1.0),
            y=min(max(y, 0.0), 1.0),
            w=min(w, 1.0),
            h=min(h, 1.0),
            found_by_inspection=found_by_inspection,
            inspection=inspection,
            **author,
        )
        activity = activity_record(
            project=character.project,
            actor=actor,
            actor_name=actor_name,
            verb="flagged continuity error"
            if kind == Annotation.Kind.CONTINUITY
            else "annotated panel",
            target=annotation,
            character=character,
            panel=panel.kind,
            text=body[:300],
        )
        notify_mentions(project=character.project, activity=activity, text=body)
    return annotation


def annotation_reply(
    *,
    parent: Annotation,
    body: str,
    user: AbstractBaseUser | None = None,
    access: Access | None = None,
) -> Annotation:
    character = parent.panel.sheet.character
    access = access_for(project=character.project, user=user, access=access)
    access.require(Action.ANNOTATE)
    body = clean_text(body, field="reply", required="Write a reply first.")
    if parent.parent_id is not None:
        parent = parent.parent  # replies thread under the annotation, one level deep
    author = _author_fields(access)
    with transaction.atomic():
        reply = Annotation.objects.create(
            panel=parent.panel,
            revision=parent.revision,
            parent=parent,
            body=body[:4000],
            kind=Annotation.Kind.NOTE,
            **author,
        )
        activity = activity_record(
            project=character.project,
            actor=access.actor,
            actor_name=access.actor_name,
            verb="replied",
            target=parent,
            character=character,
            text=body[:300],
        )
        notify_mentions(project=character.project, activity=activity, text=body)
    return reply


def annotation_set_status(
    *, annotation: Annotation, user: AbstractBaseUser | None, resolved: bool
) -> Annotation:
    character = annotation.panel.sheet.character
    # Resolving closes a continuity error the team would otherwise fix at the source: a
    # decision on the references, as resolving a shot note is (docs/security.md).
    require(project=character.project, user=user, action=Action.DECIDE)
    new = Annotation.Status.RESOLVED if resolved else Annotation.Status.REOPENED
    if annotation.parent_id is not None:
        raise ServiceError("Resolve the annotation itself, not a reply.")
    if annotation.status == new or (not resolved and annotation.status == Annotation.Status.OPEN):
        return annotation
    annotation.status = new
    annotation.save(update_fields=["status"])
    activity_record(
        project=character.project,
        actor=user,
        verb="resolved annotation" if resolved else "reopened annotation",
        target=annotation,
        character=character,
    )
    return annotation


def rule_create(
    *,
    character: Character,
    user: AbstractBaseUser | None,
    text: str,
    source: Annotation | None = None,
) -> ContinuityRule:
    """A continuity rule: added to every later sheet, edit and shot prompt."""
    require(project=character.project, user=user, action=Action.DECIDE)
    text = clean_text(
        text,
        field="rule",
        required="Write the rule, e.g. “no earbuds” or “scar on the left cheek”.",
    )
    if character.rules.filter(text__iexact=text).exists():
        raise ServiceError("That rule is already on this character.")
    rule = ContinuityRule.objects.create(
        character=character, text=text, source_annotation=source, created_by=user
    )
    activity_record(
        project=character.project,
        actor=user,
        verb="added rule",
        target=rule,
        character=character,
        text=text,
    )
    return rule


def rule_delete(*, rule: ContinuityRule, user: AbstractBaseUser | None) -> None:
    character = rule.character
    require(project=character.project, user=user, action=Action.DECIDE)
    text = rule.text
    rule.delete()
    activity_record(
        project=character.project, actor=user, verb="removed rule", character=character, text=text
    )


# --- continuity: inspection, fixes, revisions --------------------------------------------------


def _locked_sheet(character: Character) -> SheetOption:
    option = (
        SheetOption.objects.filter(character_id=character.pk, status=SheetOption.Status.LOCKED)
        .select_related("image")
        .first()
    )
    if option is None:
        raise ServiceError("Lock a sheet first: continuity works on the locked references.")
    return option


def inspect_start(
    *, character: Character, user: AbstractBaseUser | None, description: str
) -> Generation:
    """Ask the inspect stage where on the locked sheet an error seen in a shot comes from.
    A provider call, so paid: editors and owners only."""
    require(project=character.project, user=user, action=Action.GENERATE)
    description = clean_text(
        description,
        field="description",
        required="Describe what you saw, e.g. “she wears an AirPod in shot 12”.",
    )
    option = _locked_sheet(character)
    with transaction.atomic():
        generation = generation_create(
            project=character.project,
            character=character,
            stage=Stage.INSPECT,
            prompt=description,
            user=user,
            parameters={"sheet_option": option.pk},
            reference_ids=[f"sheet:{option.pk}"],
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="asked for inspection",
            target=generation,
            character=character,
            text=description,
        )
    return generation


def inspection_apply(*, generation: Generation, findings: list[dict]) -> list[Annotation]:
    """Turn an inspection's findings into continuity annotations on the panels they name."""
    option = SheetOption.objects.get(pk=generation.parameters["sheet_option"])
    panels = {
        p.kind: p
        for p in option.panels.select_related("current_revision", "sheet__character__project")
    }
    created = []
    for finding in findings:
        panel = panels.get(str(finding.get("panel", "")))
        box = finding.get("box") or []
        if panel is None or len(box) != 4:
            continue
        x, y, w, h = (min(max(float(v), 0.0), 1.0) for v in box)
        w, h = min(w, 1 - x), min(h, 1 - y)
        if w <= 0 or h <= 0:
            continue
        reason = str(finding.get("reason") or "Found by inspection.")[:1000]
        number = generation.parameters.get("shot_number")
        seen = f"shot {number}" if number else "a shot"
        created.append(
            _annotation_add(
                panel=panel,
                body=f"{reason}\n(Seen in {seen}: {generation.prompt})",
                region=(x, y, w, h),
                kind=Annotation.Kind.CONTINUITY,
                author={"author": None, "guest_name": "Inspection"},
                actor=None,
                actor_name="Inspection",
                found_by_inspection=True,
                inspection=generation,
            )
        )
    return created


def _ensure_first_revision(panel: Panel) -> PanelRevision:
    """Revision 1 is the panel as it came off the sheet; made when history first matters."""
    if panel.current_revision_id is not None:
        return panel.current_revision
    crop = panel_crop(panel=panel)
    revision, _ = PanelRevision.objects.get_or_create(
        panel=panel, number=1, defaults={"image": crop}
    )
    Panel.objects.filter(pk=panel.pk).update(current_revision=revision)
    # Revision 1 is the picture the original identity score measured: that score is its own.
    IdentityScore.objects.filter(panel=panel, revision__isnull=True).update(revision=revision)
    panel.current_revision = revision
    return revision


def panel_fix_request(
    *, annotation: Annotation, user: AbstractBaseUser | None, instruction: str = ""
) -> Generation:
    """Send the flagged panel, the instruction and the locked face to the edit stage."""
    panel = annotation.panel
    # Re-read what the invariants are checked against: the caller's objects may be stale.
    character = Character.objects.select_related("project", "locked_candidate").get(
        pk=panel.sheet.character_id
    )
    require(project=character.project, user=user, action=Action.DECIDE)
    if annotation.kind != Annotation.Kind.CONTINUITY or annotation.parent_id is not None:
        raise ServiceError("Only a continuity error can be fixed at the source.")
    if annotation.status == Annotation.Status.RESOLVED:
        raise ServiceError("This error is already resolved.")
    if character.locked_sheet_id != panel.sheet_id:
        raise ServiceError("Fixes go to the locked sheet; this panel is on another option.")
    pending = Generation.objects.filter(
        stage=Stage.EDIT, status__in=["queued", "running"], parameters__panel=panel.pk
    ).exists()
    if pending:
        raise ServiceError("A fix for this panel is already on its way; wait for it first.")
    instruction = clean_text(instruction, field="instruction")
    text = "\n".join(part for part in (annotation.body, instruction) if part)
    with transaction.atomic():
        generation = _edit_generation(
            character=character, panel=panel, annotations=[annotation], text=text, user=user
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="requested panel fix",
            target=annotation,
            character=character,
            panel=panel.kind,
            text=text[:300],
        )
    return generation


def _edit_generation(
    *,
    character: Character,
    panel: Panel,
    annotations: list[Annotation],
    text: str,
    user: AbstractBaseUser | None,
    batch: FixBatch | None = None,
) -> Generation:
    """One edit of one panel: the panel, the instruction and the locked face."""
    option = panel.sheet
    rules = character_rules(character)
    _ensure_first_revision(panel)
    parameters = {
        "panel": panel.pk,
        "kind": panel.kind,
        "annotation": annotations[0].pk,
        "annotations": [a.pk for a in annotations],
        "instruction": text,
        "preset": option.preset,
        "rules": rules,
    }
    if batch is not None:
        parameters["batch"] = batch.pk
    return generation_create(
        project=character.project,
        character=character,
        stage=Stage.EDIT,
        prompt=prompts.edit_prompt(panel.kind, text, rules),
        user=user,
        parameters=parameters,
        reference_ids=[f"panel:{panel.pk}", f"asset:{character.locked_candidate.image_4k_id}"],
    )


@dataclass(frozen=True)
class PanelChange:
    """One panel's new image, as a fix, a batch fix or a revert brings it."""

    panel: Panel
    image: Asset
    instruction: str
    generation: Generation | None = None
    reverted_from: PanelRevision | None = None


def _apply_panel_images(
    *, option: SheetOption, changes: list[PanelChange], user: AbstractBaseUser | None
) -> list[PanelRevision]:
    """Make each change its panel's new revision and recompose the sheet once, however many
    panels changed. The caller advances the character's reference revision (once)."""
    option = SheetOption.objects.select_related("image", "character__project").get(pk=option.pk)
    character = option.character
    sheet_bytes = asset_read(option.image)
    revisions = []
    for change in changes:
        panel = change.panel
        _ensure_first_revision(panel)
        number = (panel.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        revision = PanelRevision.objects.create(
            panel=panel,
            number=number,
            image=change.image,
            generation=change.generation,
            instruction=change.instruction,
            reverted_from=change.reverted_from,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        panel_bytes = asset_read(change.image)
        recomposed = imaging.recompose_sheet(
            sheet_bytes, (panel.x, panel.y, panel.w, panel.h), panel_bytes
        )
        sheet_bytes = recomposed.data
        if recomposed.note:  # the answer came back another shape: fitted, and said so
            PanelRevision.objects.filter(pk=revision.pk).update(fit_note=recomposed.note)
            revision.fit_note = recomposed.note
        # The preview comes from the panel image itself: far cheaper than decoding the sheet.
        preview = asset_store(
            project=character.project,
            data=imaging.make_panel_preview(
                panel_bytes, (0, 0, change.image.width, change.image.height)
            ),
            mime="image/webp",
            derive=False,
        )
        Panel.objects.filter(pk=panel.pk).update(
            current_revision=revision, crop=change.image, preview=preview
        )
        revisions.append(revision)
    sheet = asset_store(
        project=character.project,
        data=sheet_bytes,
        mime="image/png",
        generation=changes[0].generation if len(changes) == 1 else None,
    )
    SheetOption.objects.filter(pk=option.pk).update(image=sheet)
    # A fix (or a revert) must not change who it is: the new revisions are measured on commit.
    identity_enqueue(option_id=option.pk)
    return revisions


def _apply_panel_image(
    *,
    panel: Panel,
    image: Asset,
    user: AbstractBaseUser | None,
    instruction: str,
    generation: Generation | None = None,
    reverted_from: PanelRevision | None = None,
) -> PanelRevision:
    """Make `image` the panel's new revision and recompose the sheet."""
    change = PanelChange(panel, image, instruction, generation, reverted_from)
    return _apply_panel_images(option=panel.sheet, changes=[change], user=user)[0]


def panel_fix_apply(*, generation: Generation, image: Asset) -> PanelRevision:
    """Called by the edit task with the fixed panel: new revision, annotation resolved."""
    panel = Panel.objects.select_related("current_revision").get(pk=generation.parameters["panel"])
    annotation = Annotation.objects.filter(pk=generation.parameters.get("annotation")).first()
    user = generation.requested_by
    revision = _apply_panel_image(
        panel=panel,
        image=image,
        user=user,
        instruction=generation.parameters.get("instruction", ""),
        generation=generation,
    )
    if annotation is not None:
        ids = generation.parameters.get("annotations") or [annotation.pk]
        Annotation.objects.filter(pk__in=ids).exclude(status=Annotation.Status.DISMISSED).update(
            status=Annotation.Status.RESOLVED, resolved_by_revision=revision
        )
    character = Character.objects.get(pk=panel.sheet.character_id)
    instruction = generation.parameters.get("instruction", "")
    character_advance_revision(
        character=character,
        kind=ReferenceChange.Kind.PANEL_FIX,
        user=user,
        summary=f"{panel.label} fixed: {instruction}",
        panel_kind=panel.kind,
        panel_revision=revision,
    )
    activity_record(
        project=character.project,
        actor=user,
        verb="fixed panel",
        target=revision,
        character=character,
        panel=panel.kind,
        revision=character.reference_revision,
        number=revision.number,
        text=instruction[:300],
    )
    return revision


# --- from a shot note to the sheet: trace, fix everywhere, dismiss ------------------------------


def shot_note_trace(
    *, note: ShotNote, user: AbstractBaseUser | None, character: Character | None = None
) -> Generation:
    """Trace a shot note to its source: the inspect stage gets the note, its box and the frame
    still, and flags the panels and regions of the character's locked sheet that carry it."""
    shot = note.shot
    # Tracing runs (and pays for) an inspection: the people who generate may do it.
    require(project=shot.project, user=user, action=Action.GENERATE)
    if note.parent_id is not None:
        raise ServiceError("Trace the note itself, not a reply.")
    cast = list(shot.characters.order_by("name"))
    if character is None:
        ready = [c for c in cast if c.locked_sheet_id is not None]
        if not ready:
            raise ServiceError("No character in this shot has a locked sheet to trace it to.")
        character = ready[0]
    elif character.pk not in {c.pk for c in cast}:
        raise ServiceError("That character is not in this shot.")
    if (
        note.inspection_id
        and Generation.objects.filter(
            pk=note.inspection_id, status__in=["queued", "running"]
        ).exists()
    ):
        raise ServiceError("This note is being traced already; wait for the answer.")
    option = _locked_sheet(character)
    box = [note.x, note.y, note.w, note.h] if note.has_box else None
    with transaction.atomic():
        generation = generation_create(
            project=shot.project,
            character=character,
            stage=Stage.INSPECT,
            prompt=note.body,
            user=user,
            parameters={
                "sheet_option": option.pk,
                "shot_note": note.pk,
                "shot_number": shot.number,
                "timecode": note.timecode,
                "box": box,
                "still": note.still_id,
            },
            reference_ids=[f"sheet:{option.pk}"]
            + ([f"asset:{note.still_id}"] if note.still_id else []),
        )
        ShotNote.objects.filter(pk=note.pk).update(inspection=generation)
        note.inspection = generation
        activity_record(
            project=shot.project,
            actor=user,
            verb="traced shot note",
            target=note,
            character=character,
            shot=shot.number,
            text=note.body[:300],
        )
    return generation


def _inspection_for_update(inspection: Generation) -> tuple[Character, list[Annotation]]:
    character = Character.objects.select_related("project", "locked_candidate").get(
        pk=inspection.character_id
    )
    flagged = list(
        Annotation.objects.filter(
            inspection=inspection,
            parent__isnull=True,
            status__in=[Annotation.Status.OPEN, Annotation.Status.REOPENED],
        )
        .select_related("panel__sheet__generation", "panel__current_revision")
        .order_by("panel__order", "id")
    )
    return character, flagged


def inspection_fix_everywhere(
    *, inspection: Generation, user: AbstractBaseUser | None, instruction: str = ""
) -> FixBatch:
    """Fix every panel the inspection flagged, in one action: one edit per panel, run in
    parallel; they land together as one recomposed sheet and one reference revision."""
    if inspection.stage != Stage.INSPECT:
        raise ServiceError("Only an inspection's findings can be fixed everywhere.")
    character, flagged = _inspection_for_update(inspection)
    require(project=character.project, user=user, action=Action.DECIDE)
    flagged = [a for a in flagged if a.panel.sheet_id == character.locked_sheet_id]
    if not flagged:
        raise ServiceError("Nothing this inspection flagged is still open on the locked sheet.")
    by_panel: dict[int, list[Annotation]] = {}
    for annotation in flagged:
        by_panel.setdefault(annotation.panel_id, []).append(annotation)
    busy = Generation.objects.filter(
        stage=Stage.EDIT, status__in=["queued", "running"], parameters__panel__in=list(by_panel)
    ).exists()
    if busy:
        raise ServiceError("A fix for one of these panels is already on its way; wait for it.")
    extra = clean_text(instruction, field="instruction")
    with transaction.atomic():
        batch = FixBatch.objects.create(inspection=inspection, character=character, created_by=user)
        for annotations in by_panel.values():
            text = "\n".join(
                [*dict.fromkeys(a.body for a in annotations), *([extra] if extra else [])]
            )
            _edit_generation(
                character=character,
                panel=annotations[0].panel,
                annotations=annotations,
                text=text,
                user=user,
                batch=batch,
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="requested fix everywhere",
            target=batch,
            character=character,
            panels=[a[0].panel.kind for a in by_panel.values()],
            text=(inspection.prompt or "")[:300],
        )
    return batch


def fix_batch_settle(*, batch_id: int, kept: Generation | None = None) -> list[PanelRevision]:
    """Once every edit of a batch is final, apply the ones that succeeded together. Called as
    each edit is kept (`kept` is that edit, not yet marked succeeded) or fails; the batch row
    lock makes the last one to finish the one that applies."""
    with transaction.atomic():
        batch = (
            FixBatch.objects.select_for_update(of=("self",))
            .select_related("character__project", "created_by")
            .get(pk=batch_id)
        )
        edits = list(Generation.objects.filter(stage=Stage.EDIT, parameters__batch=batch.pk))
        if batch.applied_at is not None:
            # A retried edit that lands after its batch: applied on its own, as a single fix.
            if kept is not None:
                return _apply_edits(batch=batch, edits=[kept], user=kept.requested_by)
            return []
        done = [g for g in edits if g.is_final or (kept is not None and g.pk == kept.pk)]
        if len(done) < len(edits):
            return []
        good = [
            g
            for g in done
            if g.parameters.get("kept_asset")
            and (g.status == Generation.Status.SUCCEEDED or (kept and g.pk == kept.pk))
        ]
        revisions = _apply_edits(batch=batch, edits=good, user=batch.created_by) if good else []
        batch.character.refresh_from_db(fields=["reference_revision"])
        FixBatch.objects.filter(pk=batch.pk).update(
            applied_at=timezone.now(),
            reference_revision=batch.character.reference_revision if revisions else None,
        )
    return revisions


def _apply_edits(
    *, batch: FixBatch, edits: list[Generation], user: AbstractBaseUser | None
) -> list[PanelRevision]:
    panels = {
        p.pk: p
        for p in Panel.objects.select_related("current_revision", "sheet").filter(
            pk__in=[g.parameters["panel"] for g in edits]
        )
    }
    assets = Asset.objects.in_bulk([g.parameters["kept_asset"] for g in edits])
    changes = [
        PanelChange(
            panels[g.parameters["panel"]],
            assets[g.parameters["kept_asset"]],
            g.parameters.get("instruction", ""),
            g,
        )
        for g in edits
    ]
    character = batch.character
    option = changes[0].panel.sheet
    revisions = _apply_panel_images(option=option, changes=changes, user=user)
    for edit, revision in zip(edits, revisions, strict=True):
        Annotation.objects.filter(pk__in=edit.parameters.get("annotations") or []).exclude(
            status=Annotation.Status.DISMISSED
        ).update(status=Annotation.Status.RESOLVED, resolved_by_revision=revision)
    labels = ", ".join(c.panel.label for c in changes)
    character_advance_revision(
        character=character,
        kind=ReferenceChange.Kind.PANEL_FIX,
        user=user,
        summary=f"Fixed everywhere ({labels}): {batch.inspection.prompt}",
        panel_kind=changes[0].panel.kind if len(changes) == 1 else "",
        panel_revision=revisions[0] if len(revisions) == 1 else None,
    )
    activity_record(
        project=character.project,
        actor=user,
        verb="fixed panels",
        target=batch,
        character=character,
        panel=", ".join(c.panel.kind for c in changes),
        panels=[c.panel.kind for c in changes],
        revision=character.reference_revision,
        text=(batch.inspection.prompt or "")[:300],
    )
    return revisions


def inspection_dismiss(
    *, inspection: Generation, user: AbstractBaseUser | None, reason: str
) -> list[Annotation]:
    """Dismiss every open finding of an inspection in one action, with the reason kept."""
    if inspection.stage != Stage.INSPECT:
        raise ServiceError("Only an inspection's findings can be dismissed.")
    character, flagged = _inspection_for_update(inspection)
    require(project=character.project, user=user, action=Action.DECIDE)
    reason = clean_text(
        reason, field="reason", required="Say why the findings are wrong, so the team knows later."
    )
    if not flagged:
        raise ServiceError("This inspection has no open findings to dismiss.")
    with transaction.atomic():
        Annotation.objects.filter(pk__in=[a.pk for a in flagged]).update(
            status=Annotation.Status.DISMISSED
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="dismissed inspection",
            target=inspection,
            character=character,
            reason=reason,
            count=len(flagged),
            panels=sorted({a.panel.kind for a in flagged}),
        )
    return flagged


def panel_revert(
    *, panel: Panel, revision: PanelRevision, user: AbstractBaseUser | None
) -> PanelRevision:
    """Go back to an earlier revision; the revert is itself a new, recorded revision."""
    character = Character.objects.select_related("project").get(pk=panel.sheet.character_id)
    panel = Panel.objects.select_related("sheet", "current_revision").get(pk=panel.pk)
    require(project=character.project, user=user, action=Action.DECIDE)
    if revision.panel_id != panel.pk:
        raise ServiceError("That revision belongs to another panel.")
    if character.locked_sheet_id != panel.sheet_id:
        raise ServiceError("Only the locked sheet's panels have a history to revert.")
    if panel.current_revision_id == revision.pk:
        raise ServiceError("The panel is already at that revision.")
    with transaction.atomic():
        new = _apply_panel_image(
            panel=panel,
            image=revision.image,
            user=user,
            instruction=f"Reverted to revision {revision.number}",
            reverted_from=revision,
        )
        character_advance_revision(
            character=character,
            kind=ReferenceChange.Kind.PANEL_REVERT,
            user=user,
            summary=f"{panel.label} reverted to revision {revision.number}",
            panel_kind=panel.kind,
            panel_revision=new,
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="reverted panel",
            target=new,
            character=character,
            panel=panel.kind,
            to=revision.number,
            revision=character.reference_revision,
            number=new.number,
        )
        _reopen_undone(panel=panel, revision=revision, user=user, character=character)
    return new


def _reopen_undone(
    *, panel: Panel, revision: PanelRevision, user: AbstractBaseUser | None, character: Character
) -> list[Annotation]:
    """Reverting to `revision` undoes every later fix of the panel: what those fixes resolved is
    open again (the error is back on the sheet), and so is a shot note traced to it."""
    undone = Annotation.objects.filter(
        panel=panel,
        status=Annotation.Status.RESOLVED,
        resolved_by_revision__number__gt=revision.number,
    ).select_related("resolved_by_revision")
    reopened = []
    for annotation in undone:
        fixed_by = annotation.resolved_by_revision.number
        Annotation.objects.filter(pk=annotation.pk).update(
            status=Annotation.Status.REOPENED, resolved_by_revision=None
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="reopened annotation",
            target=annotation,
            character=character,
            panel=panel.kind,
            text=f"Revision {fixed_by} was reverted: {annotation.body[:200]}",
        )
        reopened.append(annotation)
    inspections = {a.inspection_id for a in reopened if a.inspection_id}
    for note in ShotNote.objects.filter(
        inspection_id__in=inspections, status=ShotNote.Status.RESOLVED
    ).select_related("shot"):
        ShotNote.objects.filter(pk=note.pk).update(status=ShotNote.Status.REOPENED)
        activity_record(
            project=character.project,
            actor=user,
            verb="reopened shot note",
            target=note,
            character=character,
            shot=note.shot.number,
            text=f"The {panel.kind.replace('_', ' ')} fix it was checked against was reverted: "
            f"{note.body[:200]}",
        )
    return reopened


# --- stage handler: build the request, keep the result ---------------------------------------


def inspect_request(generation: Generation) -> GenerationRequest:
    option = SheetOption.objects.select_related("generation", "character").get(
        pk=generation.parameters["sheet_option"]
    )
    panels = list(option.panels.select_related("crop", "sheet__image", "sheet__character__project"))
    references = [panel_reference(p) for p in panels]
    params = generation.parameters
    still = Asset.objects.filter(pk=params.get("still")).first() if params.get("still") else None
    if still is not None:
        references.append(ReferenceImage(asset_read(still), still.mime, FRAME_LABEL))
    required = brief_requires(option.character)
    return GenerationRequest(
        stage=Stage.INSPECT,
        prompt=generation.prompt,
        references=tuple(references),
        seed=generation.seed,
        spec=InspectSpec(
            panels=tuple(p.kind for p in panels),
            note=generation.prompt,
            box=tuple(params["box"]) if params.get("box") else None,
            timecode=params.get("timecode"),
            frame=FRAME_LABEL if still is not None else "",
            required_marks=required["marks"],
            required_listed=required["listed"],
        ),
    )


FRAME_LABEL = "shot frame"


def brief_requires(character: Character) -> dict[str, str]:
    """What the brief asks to be on the character: its distinguishing marks, and what its
    wardrobe and brief list. The inspect stage never flags these."""
    return {
        "marks": character.distinguishing_marks.strip(),
        "listed": "\n".join(t.strip() for t in (character.wardrobe, character.brief) if t.strip()),
    }


def inspect_keep(generation: Generation, result: GenerationResult) -> None:
    findings = list(result.data.get("findings", []))
    created = inspection_apply(generation=generation, findings=findings)
    result.metadata["found"] = [a.pk for a in created]
    # Findings the provider's answer could not place are reported, not fatal.
    result.metadata["skipped"] = list(result.data.get("skipped", []))


def edit_request(generation: Generation) -> GenerationRequest:
    panel = Panel.objects.select_related(
        "crop",
        "sheet__image",
        "sheet__character__project",
        "sheet__character__locked_candidate__image_4k",
    ).get(pk=generation.parameters["panel"])
    face = panel.sheet.character.locked_candidate.image_4k
    params = generation.parameters
    return GenerationRequest(
        stage=Stage.EDIT,
        prompt=generation.prompt,
        # The panel's size on the sheet: the provider answers in this shape, at least this big.
        width=panel.w,
        height=panel.h,
        references=(
            panel_reference(panel),
            ReferenceImage(asset_read(face), face.mime, "face"),
        ),
        seed=generation.seed,
        spec=EditSpec(
            panel=panel.kind,
            preset=params.get("preset") or "",
            instruction=params.get("instruction", ""),
            rules=tuple(params.get("rules", ())),
        ),
    )


def edit_keep(generation: Generation, result: GenerationResult) -> None:
    image = keep_result(generation, result, derive=False)
    batch_id = generation.parameters.get("batch")
    if batch_id is None:
        panel_fix_apply(generation=generation, image=image)
        return
    # Part of "fix everywhere": keep the picture, and let the last edit to finish apply them all.
    generation.parameters = {**generation.parameters, "kept_asset": image.pk}
    Generation.objects.filter(pk=generation.pk).update(parameters=generation.parameters)
    fix_batch_settle(batch_id=batch_id, kept=generation)


def edit_failed(generation: Generation) -> None:
    """A failed edit of a batch may be the last one the batch was waiting for."""
    if generation.parameters.get("batch") is not None:
        fix_batch_settle(batch_id=generation.parameters["batch"])
