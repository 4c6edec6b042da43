"""Continuity: annotations, rules, inspection, fixes at the source, reverts.

Long because the loop is one area: a note, its inspection and its fix share their rows.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

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
    Generation,
    Panel,
    PanelRevision,
    ReferenceChange,
    SheetOption,
    Stage,
)
from ..permissions import Action
from ..storage import asset_read, asset_store
from .core import (
    ServiceError,
    access_for,
    activity_record,
    character_advance_revision,
    require,
)
from .generations import generation_create, keep_result
from .sheets import character_rules, panel_crop, panel_reference
from .team import notify_mentions


def _validate_region(x: float, y: float, w: float, h: float) -> None:
    values = (x, y, w, h)
    if any(v is None for v in values):
        raise ServiceError("Draw a box on the panel first.")
    if w <= 0 or h <= 0:
        raise ServiceError("The box has no size; drag to draw it.")
    if x < 0 or y < 0 or x + w > 1.0001 or y + h > 1.0001:
        raise ServiceError("The box must lie inside the panel.")


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
) -> Annotation:
    character = panel.sheet.character
    x, y, w, h = region
    body = (body or "").strip()
    if not body:
        raise ServiceError("Write what is wrong or worth noting in the box.")
    if len(body) > 4000:
        raise ServiceError("Keep a note under 4,000 characters.")
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
    body = (body or "").strip()
    if not body:
        raise ServiceError("Write a reply first.")
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
    require(project=character.project, user=user, action=Action.ANNOTATE)
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
    text = (text or "").strip()
    if not text:
        raise ServiceError("Write the rule, e.g. “no earbuds” or “scar on the left cheek”.")
    if len(text) > 300:
        raise ServiceError("Keep a rule under 300 characters.")
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
    """Ask the inspect stage where on the locked sheet an error seen in a shot comes from."""
    require(project=character.project, user=user, action=Action.ANNOTATE)
    description = (description or "").strip()
    if not description:
        raise ServiceError("Describe what you saw, e.g. “she wears an AirPod in shot 12”.")
    if len(description) > 1000:
        raise ServiceError("Keep the description under 1,000 characters.")
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
        created.append(
            _annotation_add(
                panel=panel,
                body=f"{reason}\n(Seen in a shot: {generation.prompt})",
                region=(x, y, w, h),
                kind=Annotation.Kind.CONTINUITY,
                author={"author": None, "guest_name": "Inspection"},
                actor=None,
                actor_name="Inspection",
                found_by_inspection=True,
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
    rules = character_rules(character)
    text = "\n".join(part for part in (annotation.body, (instruction or "").strip()) if part)
    option = panel.sheet
    with transaction.atomic():
        _ensure_first_revision(panel)
        generation = generation_create(
            project=character.project,
            character=character,
            stage=Stage.EDIT,
            prompt=prompts.edit_prompt(panel.kind, text, rules),
            user=user,
            parameters={
                "panel": panel.pk,
                "kind": panel.kind,
                "annotation": annotation.pk,
                "instruction": text,
                "preset": option.preset,
                "rules": rules,
            },
            reference_ids=[f"panel:{panel.pk}", f"asset:{character.locked_candidate.image_4k_id}"],
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


def _apply_panel_image(
    *,
    panel: Panel,
    image: Asset,
    user: AbstractBaseUser | None,
    instruction: str,
    generation: Generation | None = None,
    reverted_from: PanelRevision | None = None,
) -> PanelRevision:
    """Make `image` the panel's new revision: recompose the sheet, advance the character."""
    option = SheetOption.objects.select_related("image", "character__project").get(
        pk=panel.sheet_id
    )
    character = option.character
    _ensure_first_revision(panel)
    number = (panel.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = PanelRevision.objects.create(
        panel=panel,
        number=number,
        image=image,
        generation=generation,
        instruction=instruction,
        reverted_from=reverted_from,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    panel_bytes = asset_read(image)
    recomposed = imaging.recompose_sheet(
        asset_read(option.image), (panel.x, panel.y, panel.w, panel.h), panel_bytes
    )
    if recomposed.note:
        PanelRevision.objects.filter(pk=revision.pk).update(fit_note=recomposed.note)
        revision.fit_note = recomposed.note
    sheet = asset_store(
        project=character.project, data=recomposed.data, mime="image/png", generation=generation
    )
    # The preview comes from the panel image itself: decoding it is far cheaper than the sheet.
    preview = asset_store(
        project=character.project,
        data=imaging.make_panel_preview(panel_bytes, (0, 0, image.width, image.height)),
        mime="image/webp",
        derive=False,
    )
    SheetOption.objects.filter(pk=option.pk).update(image=sheet)
    Panel.objects.filter(pk=panel.pk).update(current_revision=revision, crop=image, preview=preview)
    return revision


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
        Annotation.objects.filter(pk=annotation.pk).update(
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
        text=generation.parameters.get("instruction", "")[:300],
    )
    return revision


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
    return new


# --- stage handler: build the request, keep the result ---------------------------------------


def inspect_request(generation: Generation) -> GenerationRequest:
    option = SheetOption.objects.select_related("generation", "character").get(
        pk=generation.parameters["sheet_option"]
    )
    panels = list(option.panels.select_related("crop", "sheet__image", "sheet__character__project"))
    return GenerationRequest(
        stage=Stage.INSPECT,
        prompt=generation.prompt,
        references=tuple(panel_reference(p) for p in panels),
        seed=generation.seed,
        spec=InspectSpec(panels=tuple(p.kind for p in panels)),
    )


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
    panel_fix_apply(generation=generation, image=keep_result(generation, result, derive=False))
