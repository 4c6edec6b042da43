"""django-q2 entry points. Tasks take ids, re-fetch, and return early when the work is done.

run_generation is the one task for every stage: it claims the Generation (a conditional
UPDATE, so two workers never both run it), builds the request through the stage's handler,
calls the routed generator, and hands the result back to the handler to store. A redelivered
task finds the generation claimed or final and does nothing: no second image, no second charge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import services
from .generators.base import GenerationRequest, GenerationResult, GeneratorError, ReferenceImage
from .generators.routing import get_generator
from .imaging import ImageRejected
from .models import (
    Asset,
    CastingCandidate,
    Generation,
    Panel,
    SheetOption,
    Shot,
    ShotCharacter,
    ShotRender,
    Stage,
)
from .storage import StorageFailed, asset_read, asset_store, forget_written, written_files

log = logging.getLogger(__name__)

# Storing a result survives the database going away for a few seconds: the result is already
# paid for, so it is worth waiting ~15 s (1+2+4+8) rather than asking the provider again.
STORE_RETRIES = 5
STORE_BACKOFF = 1.0


@dataclass(frozen=True)
class StageHandler:
    build: Callable[[Generation], GenerationRequest]
    apply: Callable[[Generation, GenerationResult], None]


STAGE_HANDLERS: dict[str, StageHandler] = {}


def stage_handler(stage: str) -> Callable[[type], type]:
    def register(cls: type) -> type:
        STAGE_HANDLERS[stage] = StageHandler(build=cls.build, apply=cls.apply)
        return cls

    return register


def enqueue_generation(generation_id: int) -> None:
    async_task(
        "characters.tasks.run_generation",
        generation_id,
        task_name=f"generation-{generation_id}",
        group="generations",
    )


def run_generation(generation_id: int) -> str:
    generation = services.generation_claim(generation_id=generation_id)
    if generation is None:
        return "skipped: already running or final"
    handler = STAGE_HANDLERS[generation.stage]
    generator = get_generator(generation.provider)
    try:
        request = handler.build(generation)
        result = generator.generate(request)
        return _store_with_retries(generation, handler, result)
    except GeneratorError as exc:
        services.generation_fail(generation=generation, reason=exc.message, blocked=exc.blocked)
        return "blocked" if exc.blocked else "failed"
    except ImageRejected as exc:
        services.generation_fail(generation=generation, reason=str(exc))
        return "failed"
    except StorageFailed as exc:
        services.generation_fail(generation=generation, reason=str(exc))
        return "failed"
    except (OperationalError, InterfaceError):
        log.exception("generation %s: database unavailable", generation_id)
        _drop_connection()
        services.generation_fail(
            generation=generation,
            reason="The database was unavailable while saving this, so nothing was kept. "
            "Try again.",
        )
        return "failed"
    except services.ServiceError as exc:
        services.generation_fail(generation=generation, reason=str(exc))
        return "failed"
    except Exception:
        log.exception("generation %s crashed", generation_id)
        services.generation_fail(
            generation=generation,
            reason="Something went wrong inside Turnaround while making this. It has been logged; try again.",
        )
        return "failed"
    finally:
        generator.close()


def _store_with_retries(
    generation: Generation, handler: StageHandler, result: GenerationResult
) -> str:
    """Keep the result in one transaction; files written for a rolled-back attempt are removed."""
    for attempt in range(STORE_RETRIES):
        forget_written()
        try:
            return _store(generation, handler, result)
        except (OperationalError, InterfaceError):
            _remove_written()
            if attempt == STORE_RETRIES - 1:
                raise
            log.warning("generation %s: database unavailable, retrying the save", generation.pk)
            _drop_connection()
            time.sleep(STORE_BACKOFF * 2**attempt)
        except Exception:
            _remove_written()
            raise
    raise AssertionError("unreachable")


def _store(generation: Generation, handler: StageHandler, result: GenerationResult) -> str:
    with transaction.atomic():
        locked = Generation.objects.select_for_update().get(pk=generation.pk)
        if locked.status != Generation.Status.RUNNING or locked.attempts != generation.attempts:
            # A later attempt took this generation over; its result is the one kept.
            return "discarded: superseded"
        handler.apply(locked, result)
        Generation.objects.filter(pk=locked.pk).update(
            status=Generation.Status.SUCCEEDED,
            finished_at=timezone.now(),
            cost_usd=result.cost_usd,
            provider_request_id=result.provider_request_id[:200],
            response_metadata=_jsonable(
                {**result.metadata, "text": result.text, "data": result.data}
            ),
            model=result.model or locked.model,
            error="",
        )
    return "succeeded"


def _drop_connection() -> None:
    """Drop a broken connection so the next query opens a new one (never inside an atomic
    block that is not ours: tests and callers that wrap a task keep their transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def _remove_written() -> None:
    """Delete files this attempt wrote: their rows were rolled back, so nothing points at them."""
    from django.core.files.storage import default_storage

    for name in written_files():
        try:
            default_storage.delete(name)
        except Exception:
            log.exception("could not remove %s after a failed save", name)
    forget_written()


def requeue_stuck_generations() -> str:
    """Every minute (a django-q2 Schedule): re-enqueue generations a broker lost."""
    enqueue, gave_up = services.generation_requeue_stuck()
    for pk in enqueue:
        enqueue_generation(pk)
    if enqueue or gave_up:
        log.warning("requeued generations %s; gave up on %s", enqueue, gave_up)
    return f"requeued {len(enqueue)}, gave up on {len(gave_up)}"


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def keep_result(generation: Generation, result: GenerationResult, **options: object) -> Asset:
    """The result's picture or video, stored once under its content hash. Pictures go through
    the guarded decode in asset_store; a video's size is the provider's word."""
    asset = result.assets[0]
    size = {} if asset.mime.startswith("image/") else {"width": asset.width, "height": asset.height}
    return asset_store(
        project=generation.project,
        data=asset.data,
        mime=asset.mime,
        generation=generation,
        **size,
        **options,
    )


# --- casting -----------------------------------------------------------------------------------

PORTRAIT_SIZE = (896, 1216)  # 3:4, the size the default portrait model returns


@stage_handler(Stage.CASTING)
class CastingHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
        return GenerationRequest(
            stage=Stage.CASTING,
            prompt=generation.prompt,
            width=PORTRAIT_SIZE[0],
            height=PORTRAIT_SIZE[1],
            aspect_ratio="3:4",
            seed=generation.seed,
            options={"subject": generation.parameters.get("subject", generation.prompt)},
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        stored = keep_result(generation, result)
        CastingCandidate.objects.filter(generation=generation).update(image=stored)


@stage_handler(Stage.UPSCALE)
class UpscaleHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
        candidate = CastingCandidate.objects.select_related("image").get(
            upscale_generation=generation
        )
        return GenerationRequest(
            stage=Stage.UPSCALE,
            prompt="",
            references=(ReferenceImage(asset_read(candidate.image), candidate.image.mime, "face"),),
            width=int(generation.parameters.get("target", 4096)),
            seed=generation.seed,
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        stored = keep_result(generation, result)
        CastingCandidate.objects.filter(upscale_generation=generation).update(image_4k=stored)


# --- sheets ------------------------------------------------------------------------------------


@stage_handler(Stage.SHEET)
class SheetHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
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
            options={
                "preset": params.get("preset"),
                "subject": params.get("subject", ""),
                "face_seed": params.get("face_seed"),
                "rules": params.get("rules", []),
            },
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        option = SheetOption.objects.select_related("character__project").get(generation=generation)
        option.image = keep_result(generation, result)
        option.save(update_fields=["image"])
        services.sheet_store_split(option=option, sheet_bytes=result.assets[0].data)


# --- continuity --------------------------------------------------------------------------------


def _panel_reference(panel: Panel) -> ReferenceImage:
    crop = services.panel_crop(panel=panel)
    return ReferenceImage(asset_read(crop), crop.mime, panel.kind)


@stage_handler(Stage.INSPECT)
class InspectHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
        option = SheetOption.objects.select_related("generation", "character").get(
            pk=generation.parameters["sheet_option"]
        )
        panels = list(
            option.panels.select_related("crop", "sheet__image", "sheet__character__project")
        )
        return GenerationRequest(
            stage=Stage.INSPECT,
            prompt=generation.prompt,
            references=tuple(_panel_reference(p) for p in panels),
            seed=generation.seed,
            options={
                "panels": [p.kind for p in panels],
                "items_by_panel": services.current_items_by_panel(option),
            },
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        findings = list(result.data.get("findings", []))
        created = services.inspection_apply(generation=generation, findings=findings)
        result.metadata["found"] = [a.pk for a in created]


@stage_handler(Stage.EDIT)
class EditHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
        from .generators.offline_sheet import accessory_names

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
            references=(
                _panel_reference(panel),
                ReferenceImage(asset_read(face), face.mime, "face"),
            ),
            seed=generation.seed,
            options={
                "panel": panel.kind,
                "preset": params.get("preset"),
                "remove": accessory_names(params.get("instruction", "")),
                "subject": params.get("subject", ""),
                "face_seed": params.get("face_seed"),
                "rules": params.get("rules", []),
            },
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        services.panel_fix_apply(
            generation=generation, image=keep_result(generation, result, derive=False)
        )


# --- shots -------------------------------------------------------------------------------------

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


@stage_handler(Stage.SHOT)
class ShotHandler:
    @staticmethod
    def build(generation: Generation) -> GenerationRequest:
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
                    mine.append(_panel_reference(panels[kind]))
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
            options={
                "duration": params.get("duration"),
                "ratio": params.get("ratio"),
                "resolution": params.get("resolution"),
                "shot": shot.number,
            },
        )

    @staticmethod
    def apply(generation: Generation, result: GenerationResult) -> None:
        is_image = result.assets[0].mime.startswith("image/")
        stored = keep_result(generation, result, derive=is_image)
        ShotRender.objects.filter(generation=generation).update(video=stored)
        Shot.objects.filter(pk=generation.parameters["shot"], generation=generation).update(
            video=stored
        )
