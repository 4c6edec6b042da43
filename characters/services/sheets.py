"""Turnaround sheets: generate options, store and split them, lock/unlock, panel boxes.

Long because a sheet's whole life is one area: its generation, its split and the vision check of
the split's kinds, the lock, and the corrections a person makes to its panels (box and kind).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from PIL import Image

from .. import imaging, prompts
from ..generators.base import (
    GenerationRequest,
    GenerationResult,
    LabelSpec,
    ReferenceImage,
    SheetSpec,
)
from ..generators.routing import provider_for
from ..layouts import UnknownPreset, get_preset
from ..models import (
    Asset,
    Character,
    Generation,
    Panel,
    ReferenceChange,
    SheetOption,
    Stage,
)
from ..panels_detect import REVIEW_BELOW
from ..permissions import Action
from ..storage import Picture, asset_read, asset_read_for_side, asset_store, picture_of
from .core import ServiceError, activity_record, character_advance_revision, require
from .generations import generation_create, generations_create, keep_result
from .identity import identity_enqueue, identity_forget_box, option_identity
from .team import vote_tally

# --- sheets ----------------------------------------------------------------------------------

MAX_SHEET_OPTIONS = 8
# Output pixels per (aspect ratio, size) for Nano Banana Pro; the offline generator draws the same.
SHEET_SIZES = {
    ("16:9", "4K"): (5504, 3072),
    ("16:9", "2K"): (2752, 1536),
    ("16:9", "1K"): (1376, 768),
    ("21:9", "4K"): (6336, 2688),
    ("4:3", "4K"): (4800, 3584),
    ("1:1", "4K"): (4096, 4096),
}


def character_rules(character: Character) -> list[str]:
    return list(character.rules.order_by("created_at", "id").values_list("text", flat=True))


def sheet_generate(
    *,
    character: Character,
    user: AbstractBaseUser | None,
    count: int = 4,
    preset: str | None = None,
) -> list[SheetOption]:
    """Queue `count` sheet options from the locked 4K face, each its own generation."""
    require(project=character.project, user=user, action=Action.GENERATE)
    if not 1 <= count <= MAX_SHEET_OPTIONS:
        raise ServiceError(f"Make between 1 and {MAX_SHEET_OPTIONS} sheet options at a time.")
    try:
        layout = get_preset(preset or settings.TURNAROUND_SHEET_PRESET)
    except UnknownPreset as exc:
        raise ServiceError(str(exc)) from exc
    with transaction.atomic():
        # One read, the row locked: the character, its project, the locked face, and the last
        # option number (a subquery: PostgreSQL refuses aggregates next to FOR UPDATE).
        character = (
            Character.objects.select_for_update(of=("self",))
            .select_related("project", "locked_candidate__image_4k")
            .annotate(
                last_index=Subquery(
                    SheetOption.objects.filter(character=OuterRef("pk"))
                    .order_by("-index")
                    .values("index")[:1]
                )
            )
            .get(pk=character.pk)
        )
        candidate = character.locked_candidate
        if candidate is None:
            raise ServiceError(
                "Lock a face first: sheets are made from the approved casting portrait."
            )
        if candidate.image_4k_id is None:
            raise ServiceError(
                "The 4K portrait is still being made (or failed); sheets start from it. "
                "Try again when it is ready."
            )
        rules = character_rules(character)
        ratio = settings.TURNAROUND_SHEET_ASPECT_RATIO
        size = settings.TURNAROUND_SHEET_IMAGE_SIZE
        width, height = SHEET_SIZES.get((ratio, size), SHEET_SIZES[("16:9", "4K")])
        start = character.last_index or 0
        prompt = prompts.sheet_prompt(character, layout, rules)
        generations = generations_create(
            project=character.project,
            character=character,
            stage=Stage.SHEET,
            prompt=prompt,
            user=user,
            seeds=[None] * count,
            parameters={
                "preset": layout.name,
                "aspect_ratio": ratio,
                "image_size": size,
                "width": width,
                "height": height,
                "rules": rules,
            },
            reference_ids=[f"asset:{candidate.image_4k_id}"],
        )
        options = SheetOption.objects.bulk_create(
            [
                SheetOption(
                    character=character,
                    generation=generation,
                    index=start + i + 1,
                    source_candidate=candidate,
                    preset=layout.name,
                )
                for i, generation in enumerate(generations)
            ]
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="generated sheet options",
            target=character,
            character=character,
            count=count,
            preset=layout.name,
        )
    return options


def sheet_store_split(
    *, option: SheetOption, sheet: bytes | Image.Image | imaging.SplitResult
) -> SheetOption:
    """Split a finished sheet into its panels: boxes and previews (crops wait until needed).
    `sheet` is its bytes, the image its guarded decode loaded, or for a sheet just made, its
    split already done (sheet_prepare)."""
    if isinstance(sheet, imaging.SplitResult):
        result = sheet
    else:
        result = imaging.split_sheet(sheet, option.preset)
    project = option.character.project
    panels = []
    for order, found in enumerate(result.panels):
        preview = asset_store(project=project, data=found.preview, mime="image/webp", derive=False)
        panels.append(
            Panel(
                sheet=option,
                kind=found.kind,
                order=order,
                x=found.x,
                y=found.y,
                w=found.w,
                h=found.h,
                detected=found.detected,
                confidence=found.confidence,
                preview=preview,
            )
        )
    with transaction.atomic():
        option.panels.all().delete()
        Panel.objects.bulk_create(panels)
        option.split_method = result.method
        option.split_review = result.review
        option.split_notes = list(result.reasons)
        option.split_regions = [list(box) for box in result.edges]
        if option.status == SheetOption.Status.PENDING:
            option.status = SheetOption.Status.READY
        option.save(
            update_fields=["split_method", "split_review", "split_notes", "split_regions", "status"]
        )
    sheet_label_queue(option=option)
    # Who is on each panel is measured in the background once this commits: the sheet
    # card shows as soon as the sheet is stored, never waiting for the score.
    identity_enqueue(option_id=option.pk)
    return option


# --- panel labels: the optional vision check of the kinds ------------------------------------

LABEL_CONFIRMED = 0.9  # a kind the vision model agrees with
LABEL_RENAMED = 0.7  # a kind the vision model changed: likely right, still worth a look
LABEL_SIDE = 1024  # the sheet as the vision model sees it (its longer side, pixels)


def sheet_label_queue(*, option: SheetOption) -> Generation | None:
    """Ask the vision model what each panel shows: one cheap request per sheet, its cost kept
    like any other. Only where a provider serves the label stage and every panel was found;
    offline, or over budget, the geometry alone decides."""
    if provider_for(Stage.LABEL) == "offline" or option.split_method != "detected":
        return None
    image = option.image
    panels = list(option.panels.all())
    regions = [
        [
            round(p.x / image.width, 4),
            round(p.y / image.height, 4),
            round(p.w / image.width, 4),
            round(p.h / image.height, 4),
        ]
        for p in panels
    ]
    try:
        return generation_create(
            project=option.character.project,
            character=option.character,
            stage=Stage.LABEL,
            prompt=f"Name the panels of sheet option {option.index}.",
            user=None,
            parameters={
                "sheet_option": option.pk,
                "preset": option.preset,
                "panels": [p.pk for p in panels],
                "boxes": [[p.x, p.y, p.w, p.h] for p in panels],
                "regions": regions,
            },
            reference_ids=[f"asset:{image.pk}"],
        )
    except ServiceError:
        return None  # the budget is spent: labelling is optional


def label_request(generation: Generation) -> GenerationRequest:
    option = SheetOption.objects.select_related("image").get(
        pk=generation.parameters["sheet_option"]
    )
    params = generation.parameters
    return GenerationRequest(
        stage=Stage.LABEL,
        prompt=generation.prompt,
        references=(
            ReferenceImage(
                imaging.small_jpeg(asset_read_for_side(option.image, LABEL_SIDE), LABEL_SIDE),
                "image/jpeg",
                "sheet",
            ),
        ),
        seed=generation.seed,
        spec=LabelSpec(
            kinds=get_preset(params["preset"]).kinds,
            regions=tuple(tuple(r) for r in params["regions"]),
        ),
    )


def label_keep(generation: Generation, result: GenerationResult) -> None:
    """Confirm or correct the panel kinds with the vision model's labels. A sheet a person has
    touched since the split (a box moved, a kind set) or locked keeps what it has."""
    params = generation.parameters
    labels = {int(k): v for k, v in result.data.get("labels", {}).items()}
    with transaction.atomic():
        option = SheetOption.objects.select_for_update().get(pk=params["sheet_option"])
        layout = get_preset(option.preset)
        panels = {p.pk: p for p in Panel.objects.select_for_update().filter(sheet=option)}
        sent = list(zip(params["panels"], params["boxes"], strict=True))
        untouched = all(
            pk in panels
            and [panels[pk].x, panels[pk].y, panels[pk].w, panels[pk].h] == box
            and panels[pk].confidence < 1.0
            for pk, box in sent
        )
        if option.status == SheetOption.Status.LOCKED or not untouched:
            result.metadata["applied"] = False
            return
        renamed = []
        for number, (pk, _) in enumerate(sent, start=1):
            panel, kind = panels[pk], labels.get(number)
            if kind is None or kind == panel.kind:
                panel.confidence = max(panel.confidence, LABEL_CONFIRMED)
            else:
                renamed.append((panel.kind, kind))
                panel.kind, panel.confidence = kind, LABEL_RENAMED
        if renamed:
            # Through names no panel holds, so one kind per sheet holds at every step.
            for pk in panels:
                Panel.objects.filter(pk=pk).update(kind=f"_{pk}")
        for panel in panels.values():
            order = layout.kinds.index(panel.kind) if panel.kind in layout.kinds else panel.order
            Panel.objects.filter(pk=panel.pk).update(
                kind=panel.kind, order=order, confidence=panel.confidence
            )
        review = any(p.confidence < REVIEW_BELOW for p in panels.values())
        notes = [
            f"Gemini saw the {new.replace('_', ' ')} where the layout reading had the "
            f"{old.replace('_', ' ')}."
            for old, new in renamed
        ]
        SheetOption.objects.filter(pk=option.pk).update(
            split_review=review or bool(renamed),
            split_notes=notes if (review or renamed) else [],
        )
        activity_record(
            project=option.character.project,
            actor=None,
            verb="labelled panels",
            target=option,
            character=option.character,
            renamed=[f"{old} -> {new}" for old, new in renamed],
        )
    result.metadata["applied"] = True
    result.metadata["renamed"] = [list(r) for r in renamed]


def _settle_review(option: SheetOption) -> None:
    """Clear the review flag once no panel is left uncertain (a person has set each one)."""
    if not Panel.objects.filter(sheet=option, confidence__lt=REVIEW_BELOW).exists():
        SheetOption.objects.filter(pk=option.pk, split_review=True).update(
            split_review=False, split_notes=[]
        )


def sheet_resplit(*, option: SheetOption, user: AbstractBaseUser | None) -> SheetOption:
    require(project=option.character.project, user=user, action=Action.DECIDE)
    if option.image_id is None:
        raise ServiceError("This sheet option has no image yet.")
    if option.status == SheetOption.Status.LOCKED:
        raise ServiceError(
            "Unlock the sheet before re-splitting it; its panels are the locked references."
        )
    sheet_store_split(option=option, sheet=asset_read(option.image))
    activity_record(
        project=option.character.project,
        actor=user,
        verb="re-split sheet",
        target=option,
        character=option.character,
        method=option.split_method,
    )
    return option


def sheet_lock(*, option: SheetOption, user: AbstractBaseUser | None) -> SheetOption:
    """Lock one sheet option as the character's references; at most one per character."""
    character = option.character
    require(project=character.project, user=user, action=Action.DECIDE)
    try:
        with transaction.atomic():
            character = Character.objects.select_for_update().get(pk=character.pk)
            option = SheetOption.objects.select_related("generation").get(pk=option.pk)
            if option.character_id != character.pk:
                raise ServiceError("That sheet belongs to another character.")
            if option.status == SheetOption.Status.LOCKED:
                raise ServiceError("This sheet is already locked.")
            if character.locked_sheet_id is not None:
                raise ServiceError(
                    "Another sheet option was locked a moment ago. Unlock it first, with a "
                    "reason, if this one should replace it."
                )
            if option.status != SheetOption.Status.READY or option.image_id is None:
                raise ServiceError("Only a finished, split sheet can be locked.")
            if option.source_candidate_id != character.locked_candidate_id:
                raise ServiceError("This sheet was made from a face that is no longer locked.")
            option.status = SheetOption.Status.LOCKED
            option.locked_by = user if user is not None and user.is_authenticated else None
            option.locked_at = timezone.now()
            option.save(update_fields=["status", "locked_by", "locked_at"])
            character.locked_sheet = option
            character.save(update_fields=["locked_sheet", "updated_at"])
            character_advance_revision(
                character=character,
                kind=ReferenceChange.Kind.SHEET_LOCKED,
                user=user,
                summary=f"Sheet option {option.index} locked",
            )
            activity_record(
                project=character.project,
                actor=user,
                verb="locked sheet",
                target=option,
                character=character,
                index=option.index,
                revision=character.reference_revision,
                tally=vote_tally(sheet=option),
                identity=option_identity(option),
            )
    except IntegrityError as exc:
        raise ServiceError(
            "Another sheet option was locked at the same moment; only one can be locked."
        ) from exc
    option.refresh_from_db()
    return option


def sheet_unlock(*, character: Character, user: AbstractBaseUser | None, reason: str) -> Character:
    require(project=character.project, user=user, action=Action.DECIDE)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "Say why the sheet is being unlocked; the reason is kept in the history."
        )
    with transaction.atomic():
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.locked_sheet_id is None:
            raise ServiceError("No sheet is locked.")
        option = SheetOption.objects.get(pk=character.locked_sheet_id)
        option.status = SheetOption.Status.READY
        option.save(update_fields=["status"])
        character.locked_sheet = None
        character.save(update_fields=["locked_sheet", "updated_at"])
        character_advance_revision(
            character=character,
            kind=ReferenceChange.Kind.SHEET_UNLOCKED,
            user=user,
            summary=f"Sheet unlocked: {reason}",
        )
        character.refresh_from_db()
        activity_record(
            project=character.project,
            actor=user,
            verb="unlocked sheet",
            target=option,
            character=character,
            reason=reason,
            revision=character.reference_revision,
        )
    return character


MIN_PANEL_SIDE = 16


def panel_set_box(
    *, panel: Panel, user: AbstractBaseUser | None, x: int, y: int, w: int, h: int
) -> Panel:
    """Correct a panel's box by hand; its preview is remade and its crop recut when next needed."""
    option = panel.sheet
    character = option.character
    require(project=character.project, user=user, action=Action.DECIDE)
    image = option.image
    if image is None:
        raise ServiceError("This sheet has no image yet.")
    if w < MIN_PANEL_SIDE or h < MIN_PANEL_SIDE:
        raise ServiceError(f"A panel must be at least {MIN_PANEL_SIDE} pixels on each side.")
    if x < 0 or y < 0 or x + w > image.width or y + h > image.height:
        raise ServiceError(
            f"The box must lie inside the sheet ({image.width}×{image.height} pixels)."
        )
    preview_bytes = imaging.make_panel_preview(asset_read(image), (x, y, w, h))
    preview = asset_store(
        project=character.project, data=preview_bytes, mime="image/webp", derive=False
    )
    with transaction.atomic():
        before = [panel.x, panel.y, panel.w, panel.h]
        Panel.objects.filter(pk=panel.pk).update(
            x=x, y=y, w=w, h=h, preview=preview, crop=None, detected=False, confidence=1.0
        )
        _settle_review(option)
        # Read the lock from the database, not the caller's copy of the option.
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.locked_sheet_id == option.pk:
            character_advance_revision(
                character=character,
                kind=ReferenceChange.Kind.PANEL_BOX,
                user=user,
                summary=f"The {panel.label.lower()} panel's box was corrected",
                panel_kind=panel.kind,
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="corrected panel box",
            target=panel,
            character=character,
            panel=panel.kind,
            before=before,
            after=[x, y, w, h],
        )
        identity_forget_box(panel=panel)
    panel.refresh_from_db()
    return panel


def panel_set_kind(*, panel: Panel, user: AbstractBaseUser | None, kind: str) -> Panel:
    """Say what a panel shows ("this is the profile, not the back"). The panel that held that
    kind takes this panel's old kind: kinds are unique on a sheet, so two panels swap. Boxes,
    previews and crops stay with their pictures; only the names move."""
    option = panel.sheet
    character = option.character
    require(project=character.project, user=user, action=Action.DECIDE)
    layout = get_preset(option.preset)
    if kind not in layout.kinds:
        raise ServiceError(
            f"A {layout.label.lower()} sheet has no {kind.replace('_', ' ')!r} panel; choose one "
            f"of: {', '.join(spec.label for spec in layout.panels)}."
        )
    with transaction.atomic():
        panel = Panel.objects.select_for_update().get(pk=panel.pk)
        option = SheetOption.objects.get(pk=panel.sheet_id)  # its status now, not as cached
        if panel.kind == kind:
            return panel
        old_kind, old_order = panel.kind, panel.order
        other = Panel.objects.select_for_update().filter(sheet=option, kind=kind).first()
        if other is not None:
            # Through a name no panel holds, so the one-kind-per-sheet constraint never trips.
            Panel.objects.filter(pk=other.pk).update(kind="_swapping")
        Panel.objects.filter(pk=panel.pk).update(
            kind=kind, order=layout.kinds.index(kind), confidence=1.0
        )
        if other is not None:
            Panel.objects.filter(pk=other.pk).update(
                kind=old_kind,
                order=layout.kinds.index(old_kind) if old_kind in layout.kinds else old_order,
                confidence=1.0,
            )
        _settle_review(option)
        # Read the lock from the database, not the caller's copy of the option.
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.locked_sheet_id == option.pk:
            character_advance_revision(
                character=character,
                kind=ReferenceChange.Kind.PANEL_KIND,
                user=user,
                summary=f"The {old_kind.replace('_', ' ')} panel is now the "
                f"{kind.replace('_', ' ')}",
                panel_kind=kind,
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="renamed panel",
            target=panel,
            character=character,
            before=old_kind,
            after=kind,
            swapped_with=other.pk if other is not None else None,
        )
    panel.refresh_from_db()
    return panel


def panel_crop(*, panel: Panel) -> Asset:
    """The full-resolution crop of a panel, cut from the sheet the first time it is needed."""
    if panel.crop_id is not None:
        return panel.crop
    option = panel.sheet
    data = imaging.crop_panel(asset_read(option.image), (panel.x, panel.y, panel.w, panel.h))
    crop = asset_store(project=option.character.project, data=data, mime="image/png", derive=False)
    Panel.objects.filter(pk=panel.pk, crop__isnull=True).update(crop=crop)
    panel.crop = crop
    return crop


# --- stage handler: build the request, keep the result ---------------------------------------


def sheet_request(generation: Generation) -> GenerationRequest:
    option = SheetOption.objects.select_related("source_candidate__image_4k").get(
        generation=generation
    )
    face = option.source_candidate.image_4k
    params = generation.parameters
    return GenerationRequest(
        stage=Stage.SHEET,
        prompt=generation.prompt,
        references=(ReferenceImage(asset_read(face), face.mime, "face"),),
        width=params.get("width"),
        height=params.get("height"),
        aspect_ratio=params.get("aspect_ratio"),
        image_size=params.get("image_size"),
        seed=generation.seed,
        spec=SheetSpec(preset=params.get("preset") or "", rules=tuple(params.get("rules", ()))),
    )


@dataclass(frozen=True)
class PreparedSheet:
    picture: Picture
    split: imaging.SplitResult


def sheet_prepare(generation: Generation, result: GenerationResult) -> PreparedSheet:
    """The one decode of a new sheet, its derived sizes and its split with the panel previews,
    before the transaction that keeps them (tasks.StageHandler.prepare)."""
    preset = SheetOption.objects.values_list("preset", flat=True).get(generation=generation)
    picture = picture_of(result.assets[0].data)
    return PreparedSheet(picture, imaging.split_sheet(picture.image, preset))


def sheet_keep(generation: Generation, result: GenerationResult, prepared: PreparedSheet) -> None:
    option = SheetOption.objects.select_related("character__project").get(generation=generation)
    option.image = keep_result(generation, result, picture=prepared.picture)
    option.save(update_fields=["image"])
    sheet_store_split(option=option, sheet=prepared.split)


def panel_reference(panel: Panel) -> ReferenceImage:
    crop = panel_crop(panel=panel)
    return ReferenceImage(asset_read(crop), crop.mime, panel.kind)
