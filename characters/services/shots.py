"""Shots: create, render from the locked references, staleness, re-render stale shots."""

from __future__ import annotations

import math

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from .. import imaging, prompts
from ..access import Access
from ..generators.base import GenerationRequest, GenerationResult, ReferenceImage, ShotSpec
from ..models import (
    Character,
    Generation,
    Project,
    ReferenceAsset,
    Shot,
    ShotCharacter,
    ShotNote,
    ShotRender,
    Stage,
)
from ..permissions import Action
from ..storage import asset_read, asset_store
from . import references
from .core import ServiceError, access_for, activity_record, clean_box, clean_text, require
from .generations import generation_create, keep_result
from .sheets import character_rules, panel_reference
from .team import notify_mentions

# --- shots -------------------------------------------------------------------------------------

SHOT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
SHOT_RESOLUTIONS = ("480p", "720p", "1080p")


def shot_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    prompt: str,
    characters: list[Character],
    duration: int = 5,
    ratio: str = "16:9",
    resolution: str = "720p",
) -> Shot:
    """A shot made from the locked references of its characters; rendered at once."""
    require(project=project, user=user, action=Action.GENERATE)
    prompt = clean_text(
        prompt, field="shot prompt", required="Describe the shot: action, camera, setting."
    )
    if not characters:
        raise ServiceError("Choose at least one character for the shot.")
    characters = list(Character.objects.filter(pk__in=[c.pk for c in characters]).order_by("name"))
    if any(c.project_id != project.pk for c in characters):
        raise ServiceError("A shot can only use this project's characters.")
    not_ready = [c.name for c in characters if c.locked_sheet_id is None]
    if not_ready:
        raise ServiceError(
            f"Lock a sheet first for: {', '.join(not_ready)}. Shots are made from locked references."
        )
    if not 4 <= duration <= 15:
        raise ServiceError("A shot lasts 4 to 15 seconds.")
    if ratio not in SHOT_RATIOS:
        raise ServiceError(f"Choose a ratio from {', '.join(SHOT_RATIOS)}.")
    if resolution not in SHOT_RESOLUTIONS:
        raise ServiceError(f"Choose a resolution from {', '.join(SHOT_RESOLUTIONS)}.")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (Shot.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        shot = Shot.objects.create(
            project=project,
            number=number,
            prompt=prompt,
            duration=duration,
            ratio=ratio,
            resolution=resolution,
        )
        ShotCharacter.objects.bulk_create(
            [
                ShotCharacter(shot=shot, character=c, reference_revision=c.reference_revision)
                for c in characters
            ]
        )
        activity_record(
            project=project, actor=user, verb="created shot", target=shot, number=number
        )
        shot_render(shot=shot, user=user)
    return shot


def shot_render(*, shot: Shot, user: AbstractBaseUser | None) -> ShotRender | None:
    """Render (or re-render) a shot from its characters' current references.

    On Seedance the references go as asset:// ids only: when some are not active yet the shot
    waits (no generation, no worker held) and the reference check starts it; when one was
    refused the shot says so. None when the shot waits or is held."""
    require(project=shot.project, user=user, action=Action.GENERATE)
    return _shot_render(shot=shot, user=user)


def _reference_plan(cast_rows: list[ShotCharacter]) -> tuple[list[dict], list[str], list[str]]:
    """(the images a shot sends, in order; what it waits for; what was refused).

    Each character gets an equal share of the provider's nine reference slots: the face
    first, then the panels in PANEL_ORDER."""
    per_character = max(1, MAX_SHOT_REFERENCES // max(1, len(cast_rows)))
    needs_assets = references.shots_need_assets()
    plan: list[dict] = []
    waiting: list[str] = []
    refused: list[str] = []
    for row in cast_rows:
        character = row.character
        assets = references.references_for_character(character)
        if needs_assets and not assets:
            waiting.append(f"{character.name}'s references (not uploaded yet)")
            references.references_sync_on_commit(character_id=character.pk)
            continue
        if not needs_assets:
            plan.extend(_inline_plan(character, per_character))
            continue
        for asset in assets[:per_character]:
            label = f"{character.name}'s {describe_kind(asset.kind)}"
            if asset.status == ReferenceAsset.Status.REFUSED:
                refused.append(f"{label}: {asset.error or 'refused'}")
            elif asset.status != ReferenceAsset.Status.ACTIVE:
                waiting.append(f"{label} ({asset.get_status_display().lower()})")
            else:
                plan.append(
                    {
                        "character": character.pk,
                        "name": character.name,
                        "kind": asset.kind,
                        "reference_asset": asset.pk,
                        "uri": asset.uri,
                    }
                )
    return plan[:MAX_SHOT_REFERENCES], waiting, refused


def _inline_plan(character: Character, limit: int) -> list[dict]:
    """Offline shots draw from the images themselves (nothing leaves the machine)."""
    panels = {p.kind: p for p in character.locked_sheet.panels.all()}
    plan = [{"character": character.pk, "name": character.name, "kind": "face", "uri": ""}]
    for kind in references.PANEL_ORDER:
        if kind in panels and len(plan) < limit:
            plan.append(
                {"character": character.pk, "name": character.name, "kind": kind, "uri": ""}
            )
    return plan


def describe_kind(kind: str) -> str:
    """How a prompt names a reference: "face", "face close-up", "profile view"."""
    named = {"face": "face", "face_closeup": "face close-up", "mid_closeup": "mid close-up"}
    return named.get(kind) or f"{kind.replace('_', ' ')} view"


def reference_legend(plan: list[dict]) -> str:
    """Which image is whose, in the provider's own words: "[Image 1] is Mara's face"."""
    return "\n".join(
        f"[Image {n}] is {item['name']}'s {describe_kind(item['kind'])}."
        for n, item in enumerate(plan, start=1)
    )


def _shot_render(*, shot: Shot, user: AbstractBaseUser | None) -> ShotRender | None:
    with transaction.atomic():
        shot = Shot.objects.select_for_update().select_related("project").get(pk=shot.pk)
        cast_rows = list(
            ShotCharacter.objects.select_related("character").filter(shot=shot).order_by("id")
        )
        if any(r.character.locked_sheet_id is None for r in cast_rows):
            raise ServiceError(
                "A character in this shot has no locked sheet any more; lock one first."
            )
        if (
            shot.generation_id
            and Generation.objects.filter(
                pk=shot.generation_id, status__in=["queued", "running"]
            ).exists()
        ):
            raise ServiceError(f"Shot {shot.number} is already rendering.")
        plan, waiting, refused = _reference_plan(cast_rows)
        if refused:
            Shot.objects.filter(pk=shot.pk).update(
                waiting_for_references=False,
                held_reason="Seedance refused a reference, so this shot cannot use it: "
                + "; ".join(refused)
                + ". Fix or replace that image on the sheet, then re-render.",
            )
            return None
        if waiting:
            Shot.objects.filter(pk=shot.pk).update(
                waiting_for_references=True,
                held_reason="Waiting for Seedance to accept " + ", ".join(waiting) + ".",
            )
            return None
        revisions = {str(r.character_id): r.character.reference_revision for r in cast_rows}
        rules = {r.character.name: character_rules(r.character) for r in cast_rows}
        legend = reference_legend(plan)
        generation = generation_create(
            project=shot.project,
            character=None,
            stage=Stage.SHOT,
            prompt=prompts.shot_prompt(shot.prompt, rules) + ("\n" + legend if legend else ""),
            user=user,
            parameters={
                "shot": shot.pk,
                "duration": shot.duration,
                "ratio": shot.ratio,
                "resolution": shot.resolution,
                "revisions": revisions,
                "references": plan,
            },
            reference_ids=[
                f"character:{r.character_id}@{revisions[str(r.character_id)]}" for r in cast_rows
            ],
        )
        render = ShotRender.objects.create(shot=shot, generation=generation, revisions=revisions)
        for row in cast_rows:
            ShotCharacter.objects.filter(pk=row.pk).update(
                reference_revision=row.character.reference_revision
            )
        Shot.objects.filter(pk=shot.pk).update(
            generation=generation, waiting_for_references=False, held_reason=""
        )
        shot.generation = generation
    return render


def shots_release_waiting() -> list[ShotRender]:
    """Start the shots that waited for references, now that theirs may be active (called by
    the reference check, not by a person: the render is the one they asked for)."""
    renders = []
    for shot in Shot.objects.filter(waiting_for_references=True).select_related("project"):
        try:
            render = _shot_render(shot=shot, user=None)
        except ServiceError as exc:
            Shot.objects.filter(pk=shot.pk).update(
                waiting_for_references=False, held_reason=str(exc)
            )
            continue
        if render is not None:
            renders.append(render)
    return renders


def shot_staleness(shot: Shot) -> list[dict]:
    """For each character whose references moved on since the shot's render, what changed."""
    missing = []
    for row in shot.cast.all():
        character = row.character
        if row.reference_revision >= character.reference_revision:
            continue
        changes = [
            c for c in character.reference_changes.all() if c.revision > row.reference_revision
        ]
        missing.append(
            {
                "character": character,
                "from": row.reference_revision,
                "to": character.reference_revision,
                "changes": changes,
            }
        )
    return missing


def shots_rerender_stale(*, project: Project, user: AbstractBaseUser | None) -> list[ShotRender]:
    require(project=project, user=user, action=Action.GENERATE)
    renders = []
    for shot in Shot.objects.filter(project=project).prefetch_related(
        "cast__character__reference_changes"
    ):
        if shot_staleness(shot):
            try:
                render = shot_render(shot=shot, user=user)
            except ServiceError:
                continue  # already rendering, or a character lost its sheet: left as it is
            if render is not None:  # None: it waits for its references, or one was refused
                renders.append(render)
    if renders:
        activity_record(
            project=project, actor=user, verb="re-rendered stale shots", count=len(renders)
        )
    return renders


# --- shot notes: review at a timecode, a box on the frame ---------------------------------------

MAX_STILL_BYTES = 8 * 1024 * 1024


def _note_author(access: Access) -> dict:
    if not access.is_guest:
        return {"author": access.user, "guest_name": ""}
    if not access.guest_name:
        raise ServiceError("Enter your name so the team knows who wrote this.")
    return {"author": None, "guest_name": access.guest_name}


def shot_note_create(
    *,
    shot: Shot,
    body: str,
    timecode: float | None,
    box: tuple[float, float, float, float] | None = None,
    render: ShotRender | None = None,
    still: bytes | None = None,
    user: AbstractBaseUser | None = None,
    access: Access | None = None,
) -> ShotNote:
    """A note pinned to a timecode of a render, optionally with a box on that frame (0-1) and
    the frame itself as a still (checked through the guarded image path before it is kept).
    A member passes `user`; a view passes the request's `access` (members and guests alike)."""
    access = access_for(project=shot.project, user=user, access=access)
    access.require(Action.ANNOTATE)
    body = clean_text(body, field="note", required="Write what you see at this moment of the shot.")
    if timecode is None or not math.isfinite(timecode) or not 0 <= timecode <= 3600:
        raise ServiceError("The note needs the moment it is about: pause the shot there.")
    if render is None:
        render = shot.renders.filter(video__isnull=False).order_by("-created_at", "-id").first()
    elif render.shot_id != shot.pk:
        raise ServiceError("That render belongs to another shot.")
    fields: dict = {"x": None, "y": None, "w": None, "h": None}
    if box is not None:
        box = clean_box(box, on="frame")
    if box is not None:
        x, y, w, h = box
        fields = {"x": x, "y": y, "w": min(w, 1 - x), "h": min(h, 1 - y)}
    still_asset = None
    if still:
        if len(still) > MAX_STILL_BYTES:
            raise ServiceError("The frame still is larger than 8 MB; the note was not saved.")
        try:
            imaging.inspect_image(still)
        except imaging.ImageRejected as exc:
            raise ServiceError(f"The frame still could not be kept: {exc}") from exc
    author = _note_author(access)
    with transaction.atomic():
        if still:
            still_asset = asset_store(project=shot.project, data=still, mime="image/png")
        note = ShotNote.objects.create(
            shot=shot,
            render=render,
            timecode=round(timecode, 3),
            body=body,
            still=still_asset,
            **fields,
            **author,
        )
        activity = activity_record(
            project=shot.project,
            actor=access.actor,
            actor_name=access.actor_name,
            verb="noted shot",
            target=note,
            shot=shot.number,
            at=note.timecode,
            text=body[:300],
        )
        notify_mentions(project=shot.project, activity=activity, text=body)
    return note


def shot_note_reply(
    *,
    parent: ShotNote,
    body: str,
    user: AbstractBaseUser | None = None,
    access: Access | None = None,
) -> ShotNote:
    shot = parent.shot
    access = access_for(project=shot.project, user=user, access=access)
    access.require(Action.ANNOTATE)
    body = clean_text(body, field="reply", required="Write a reply first.")
    if parent.parent_id is not None:
        parent = parent.parent
    author = _note_author(access)
    with transaction.atomic():
        reply = ShotNote.objects.create(
            shot=shot,
            render=parent.render,
            parent=parent,
            timecode=parent.timecode,
            body=body[:4000],
            **author,
        )
        activity_record(
            project=shot.project,
            actor=access.actor,
            actor_name=access.actor_name,
            verb="replied to shot note",
            target=parent,
            shot=shot.number,
            text=body[:300],
        )
    return reply


def shot_note_set_status(
    *, note: ShotNote, user: AbstractBaseUser | None, resolved: bool
) -> ShotNote:
    """Resolving says the shot is right now: a decision, as for the sheet's annotations."""
    shot = note.shot
    require(project=shot.project, user=user, action=Action.DECIDE)
    if note.parent_id is not None:
        raise ServiceError("Resolve the note itself, not a reply.")
    new = ShotNote.Status.RESOLVED if resolved else ShotNote.Status.REOPENED
    if note.status == new or (not resolved and note.status == ShotNote.Status.OPEN):
        return note
    note.status = new
    note.save(update_fields=["status"])
    activity_record(
        project=shot.project,
        actor=user,
        verb="resolved shot note" if resolved else "reopened shot note",
        target=note,
        shot=shot.number,
        text=note.body[:300],
    )
    return note


# --- stage handler: build the request, keep the result ---------------------------------------


MAX_SHOT_REFERENCES = 9  # Seedance's limit on reference images


def shot_request(generation: Generation) -> GenerationRequest:
    """The shot as sent: the references of the render's plan, in order. On Seedance each is an
    asset:// id and no image bytes are read; offline, the images themselves."""
    shot = Shot.objects.get(pk=generation.parameters["shot"])
    params = generation.parameters
    references_sent: list[ReferenceImage] = []
    characters = {
        c.pk: c
        for c in Character.objects.filter(
            pk__in={item["character"] for item in params.get("references", [])}
        ).select_related("locked_candidate__image_4k", "locked_sheet")
    }
    for item in params.get("references", []):
        label = f"{item['name']}: {item['kind']}"
        if item.get("uri"):
            references_sent.append(ReferenceImage(b"", "image/jpeg", label, uri=item["uri"]))
            continue
        character = characters[item["character"]]
        if item["kind"] == "face":
            face = character.locked_candidate.image_4k
            references_sent.append(ReferenceImage(asset_read(face), face.mime, label))
        else:
            panel = character.locked_sheet.panels.select_related(
                "crop", "sheet__image", "sheet__character__project"
            ).get(kind=item["kind"])
            ref = panel_reference(panel)
            references_sent.append(ReferenceImage(ref.data, ref.mime, label))
    return GenerationRequest(
        stage=Stage.SHOT,
        prompt=generation.prompt,
        references=tuple(references_sent[:MAX_SHOT_REFERENCES]),
        aspect_ratio=params.get("ratio"),
        seed=generation.seed,
        spec=ShotSpec(
            number=shot.number,
            duration=params.get("duration"),
            ratio=params.get("ratio"),
            resolution=params.get("resolution"),
        ),
    )


def shot_keep(generation: Generation, result: GenerationResult) -> None:
    is_image = result.assets[0].mime.startswith("image/")
    stored = keep_result(generation, result, derive=is_image)
    ShotRender.objects.filter(generation=generation).update(video=stored)
    Shot.objects.filter(pk=generation.parameters["shot"], generation=generation).update(
        video=stored
    )
