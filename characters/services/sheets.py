"""Turnaround sheets: generate options, store and split them, lock/unlock, panel boxes."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from PIL import Image

from .. import imaging, prompts
from ..generators.base import GenerationRequest, GenerationResult, ReferenceImage, SheetSpec
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
from ..permissions import Action
from ..storage import asset_read, asset_store
from .core import ServiceError, activity_record, character_advance_revision, require
from .generations import generations_create, keep_result
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


def sheet_store_split(*, option: SheetOption, sheet: bytes | Image.Image) -> SheetOption:
    """Split a finished sheet into its panels: boxes and previews (crops wait until needed).
    `sheet` is its bytes or, for a sheet just stored, the image its guarded decode loaded."""
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
                preview=preview,
            )
        )
    with transaction.atomic():
        option.panels.all().delete()
        Panel.objects.bulk_create(panels)
        option.split_method = result.method
        if option.status == SheetOption.Status.PENDING:
            option.status = SheetOption.Status.READY
        option.save(update_fields=["split_method", "status"])
    return option


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
            x=x, y=y, w=w, h=h, preview=preview, crop=None, detected=False
        )
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


def sheet_keep(generation: Generation, result: GenerationResult) -> None:
    option = SheetOption.objects.select_related("character__project").get(generation=generation)
    # The one decode of a new sheet: checked, stored with its derived sizes, then split.
    decoded = imaging.decode_checked(result.assets[0].data)
    option.image = keep_result(generation, result, decoded=decoded)
    option.save(update_fields=["image"])
    sheet_store_split(option=option, sheet=decoded[1])


def panel_reference(panel: Panel) -> ReferenceImage:
    crop = panel_crop(panel=panel)
    return ReferenceImage(asset_read(crop), crop.mime, panel.kind)
