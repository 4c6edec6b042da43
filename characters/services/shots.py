"""Shots: create, render from the locked references, staleness, re-render stale shots."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from .. import prompts
from ..generators.base import GenerationRequest, GenerationResult, ReferenceImage, ShotSpec
from ..models import (
    Character,
    Generation,
    Project,
    Shot,
    ShotCharacter,
    ShotRender,
    Stage,
)
from ..permissions import Action
from ..storage import asset_read
from .core import ServiceError, activity_record, require
from .generations import generation_create, keep_result
from .sheets import character_rules, panel_reference

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
    prompt = (prompt or "").strip()
    if not prompt:
        raise ServiceError("Describe the shot: action, camera, setting.")
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


def shot_render(*, shot: Shot, user: AbstractBaseUser | None) -> ShotRender:
    """Render (or re-render) a shot from its characters' current references."""
    require(project=shot.project, user=user, action=Action.GENERATE)
    with transaction.atomic():
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
        revisions = {str(r.character_id): r.character.reference_revision for r in cast_rows}
        rules = {r.character.name: character_rules(r.character) for r in cast_rows}
        generation = generation_create(
            project=shot.project,
            character=None,
            stage=Stage.SHOT,
            prompt=prompts.shot_prompt(shot.prompt, rules),
            user=user,
            parameters={
                "shot": shot.pk,
                "duration": shot.duration,
                "ratio": shot.ratio,
                "resolution": shot.resolution,
                "revisions": revisions,
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
        Shot.objects.filter(pk=shot.pk).update(generation=generation)
        shot.generation = generation
    return render


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
                renders.append(shot_render(shot=shot, user=user))
            except ServiceError:
                continue  # already rendering, or a character lost its sheet: left as it is
    if renders:
        activity_record(
            project=project, actor=user, verb="re-rendered stale shots", count=len(renders)
        )
    return renders


# --- stage handler: build the request, keep the result ---------------------------------------


MAX_SHOT_REFERENCES = 9  # Seedance's limit on reference images
SHOT_PANELS = (
    "face_closeup",
    "front",
    "three_quarter",
    "profile",
    "three_quarter_left",
    "profile_left",
    "back",
    "mid_closeup",
)


def shot_request(generation: Generation) -> GenerationRequest:
    shot = Shot.objects.get(pk=generation.parameters["shot"])
    references: list[ReferenceImage] = []
    rows = (
        ShotCharacter.objects.filter(shot=shot)
        .select_related("character__locked_candidate__image_4k", "character__locked_sheet")
        .order_by("id")
    )
    per_character = max(1, MAX_SHOT_REFERENCES // max(1, len(rows)))
    for row in rows:
        character = row.character
        face = character.locked_candidate.image_4k
        mine = [ReferenceImage(asset_read(face), face.mime, f"{character.name}: face")]
        panels = {
            p.kind: p
            for p in character.locked_sheet.panels.select_related(
                "crop", "sheet__image", "sheet__character__project"
            )
        }
        for kind in SHOT_PANELS:
            if kind in panels and len(mine) < per_character:
                mine.append(panel_reference(panels[kind]))
        references.extend(mine)
    params = generation.parameters
    return GenerationRequest(
        stage=Stage.SHOT,
        prompt=generation.prompt,
        references=tuple(references[:MAX_SHOT_REFERENCES]),
        aspect_ratio=params.get("ratio"),
        seed=generation.seed,
        resume_id=generation.provider_request_id,
        on_submitted=lambda task_id: Generation.objects.filter(pk=generation.pk).update(
            provider_request_id=task_id[:200]
        ),
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
