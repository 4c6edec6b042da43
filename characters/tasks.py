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

from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import services
from .generators.base import GenerationRequest, GenerationResult, GeneratorError
from .generators.routing import get_generator
from .imaging import ImageRejected
from .models import Generation, Stage
from .services import casting, continuity, sheets, shots
from .storage import StorageFailed, forget_written, written_files

log = logging.getLogger(__name__)

# Storing a result survives the database going away for a few seconds: the result is already
# paid for, so it is worth waiting ~15 s (1+2+4+8) rather than asking the provider again.
STORE_RETRIES = 5
STORE_BACKOFF = 1.0


@dataclass(frozen=True)
class StageHandler:
    """What a stage's area does around the provider call: build the request from the rows,
    then keep the result (inside the transaction that marks the generation succeeded)."""

    build: Callable[[Generation], GenerationRequest]
    apply: Callable[[Generation, GenerationResult], None]
    failed: Callable[[Generation], None] | None = None  # after the generation is marked failed


# Every stage and the area that owns it: one table answers "what runs here".
STAGE_HANDLERS: dict[str, StageHandler] = {
    Stage.CASTING: StageHandler(casting.casting_request, casting.casting_keep),
    Stage.UPSCALE: StageHandler(casting.upscale_request, casting.upscale_keep),
    Stage.SHEET: StageHandler(sheets.sheet_request, sheets.sheet_keep),
    Stage.INSPECT: StageHandler(continuity.inspect_request, continuity.inspect_keep),
    Stage.EDIT: StageHandler(continuity.edit_request, continuity.edit_keep, continuity.edit_failed),
    Stage.SHOT: StageHandler(shots.shot_request, shots.shot_keep),
}


def run_generation(generation_id: int) -> str:
    generation = services.generation_claim(generation_id=generation_id)
    if generation is None:
        return "skipped: already running or final"
    handler = STAGE_HANDLERS[generation.stage]
    outcome = _run(generation, handler)
    if outcome in ("failed", "blocked") and handler.failed is not None:
        handler.failed(generation)
    return outcome


def _run(generation: Generation, handler: StageHandler) -> str:
    generation_id = generation.pk
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
        services.enqueue_generation(pk)
    for generation in Generation.objects.filter(pk__in=gave_up):
        handler = STAGE_HANDLERS[generation.stage]
        if handler.failed is not None:
            handler.failed(generation)
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
