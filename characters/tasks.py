"""django-q2 entry points. Tasks take ids, re-fetch, and return early when the work is done.

run_generation is the one task for every stage: it claims the Generation (a conditional
UPDATE, so two workers never both run it), builds the request through the stage's handler,
calls the routed generator, and hands the result back to the handler to store. A redelivered
task finds the generation claimed or final and does nothing: no second image, no second charge.

A task-based provider answers Pending instead of a result. The runner keeps the provider's task
id on the generation, sets when to check it next, and returns: no worker sleeps on a provider.
dispatch_due_checks (every second from `manage.py worker`, every minute from the requeue job)
sends each due check back here, where a check claim (another conditional UPDATE) lets exactly
one worker read the task's status. Past the overall wait deadline the task is cancelled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django_q.conf import Conf

from . import services
from .generators.base import GenerationRequest, GenerationResult, GeneratorError, Pending
from .generators.routing import get_generator
from .imaging import ImageRejected
from .models import Generation, SheetOption, Stage
from .services import casting, continuity, references, sheets, shots
from .storage import StorageFailed, forget_written, written_files

log = logging.getLogger(__name__)

# Storing a result survives the database going away for a few seconds: the result is already
# paid for, so it is worth waiting ~15 s (1+2+4+8) rather than asking the provider again.
STORE_RETRIES = 5
STORE_BACKOFF = 1.0


@dataclass(frozen=True)
class StageHandler:
    """What a stage's area does around the provider call: build the request from the rows,
    then keep the result (inside the transaction that marks the generation succeeded).

    `prepare`, where set, does the result's CPU work first, outside that transaction (decoding
    a picture, deriving its sizes, splitting a sheet): what it returns is apply's third
    argument. Inside the transaction only rows and files are written, so workers finishing
    together on SQLite wait for each other's writes, not for each other's pixels."""

    build: Callable[[Generation], GenerationRequest]
    # apply(generation, result), or with prepare, apply(generation, result, prepared)
    apply: Callable[..., None]
    failed: Callable[[Generation], None] | None = None  # after the generation is marked failed
    prepare: Callable[[Generation, GenerationResult], object] | None = None


# Every stage and the area that owns it: one table answers "what runs here".
STAGE_HANDLERS: dict[str, StageHandler] = {
    Stage.CASTING: StageHandler(
        casting.casting_request, casting.casting_keep, prepare=services.result_picture
    ),
    Stage.UPSCALE: StageHandler(
        casting.upscale_request, casting.upscale_keep, prepare=services.result_picture
    ),
    Stage.SHEET: StageHandler(
        sheets.sheet_request, sheets.sheet_keep, prepare=sheets.sheet_prepare
    ),
    Stage.INSPECT: StageHandler(continuity.inspect_request, continuity.inspect_keep),
    Stage.LABEL: StageHandler(sheets.label_request, sheets.label_keep),
    Stage.EDIT: StageHandler(continuity.edit_request, continuity.edit_keep, continuity.edit_failed),
    Stage.SHOT: StageHandler(shots.shot_request, shots.shot_keep),
}


def run_generation(generation_id: int) -> str:
    outcome = _run(generation_id)
    # Inline (tests, TURNAROUND_SYNC_TASKS) no worker comes back later: the caller waits here.
    while outcome == "waiting" and Conf.SYNC:
        due = Generation.objects.values_list("check_at", flat=True).get(pk=generation_id)
        if due is not None:
            time.sleep(max(0.0, (due - timezone.now()).total_seconds()))
        outcome = _run(generation_id)
    return outcome


def check_generations(generation_ids: list[int]) -> str:
    """Due provider checks, several in one task: one broker round trip, one saved result and
    one provider client (kept alive across the reads) for the lot, instead of one each. A
    check is a status read of a few milliseconds; per-task overhead would dwarf it."""
    generators: dict[str, object] = {}
    outcomes: dict[str, int] = {}
    try:
        for generation_id in generation_ids:
            outcome = _run(generation_id, generators=generators).split(":")[0]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        for generator in generators.values():
            generator.close()
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))


def _run(generation_id: int, generators: dict | None = None) -> str:
    generation = services.generation_claim_check(generation_id=generation_id)
    checking = generation is not None
    if generation is None:
        generation = services.generation_claim(generation_id=generation_id)
    if generation is None:
        return "skipped: already running or final"
    handler = STAGE_HANDLERS[generation.stage]
    outcome = _attempt(generation, handler, checking=checking, generators=generators)
    if outcome in ("failed", "blocked") and handler.failed is not None:
        handler.failed(generation)
    return outcome


def _attempt(
    generation: Generation, handler: StageHandler, *, checking: bool, generators: dict | None
) -> str:
    generation_id = generation.pk
    if generators is None:
        generator = get_generator(generation.provider)
    else:  # shared by a batch of checks, closed by it
        generator = generators.get(generation.provider)
        if generator is None:
            generator = generators[generation.provider] = get_generator(generation.provider)
    try:
        request = _request(generation, handler, checking=checking)
        outcome = generator.generate(request)
        if isinstance(outcome, Pending):
            return _wait(generation, generator, outcome)
        return _store_with_retries(generation, handler, outcome)
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
        if generators is None:
            generator.close()


def _request(generation: Generation, handler: StageHandler, *, checking: bool) -> GenerationRequest:
    """The request for this call. Once the provider has a task (provider_request_id), the call
    checks it: resume_id says so, and a plain check gets a light request (no reference images
    read from storage every few seconds) unless the last Pending asked for the whole one."""
    task_id = generation.provider_request_id
    if not task_id:
        return handler.build(generation)
    if checking and not generation.response_metadata.get("full_request"):
        return GenerationRequest(
            stage=generation.stage,
            prompt=generation.prompt,
            seed=generation.seed,
            resume_id=task_id,
        )
    return replace(handler.build(generation), resume_id=task_id)


def _wait(generation: Generation, generator: object, pending: Pending) -> str:
    """The provider is still at it: record when to look again and free this worker, or give
    up (cancelling the task) once the overall wait deadline has passed."""
    if generation.wait_until is not None and timezone.now() >= generation.wait_until:
        task_id = pending.task_id or generation.provider_request_id
        cancelled = "it was cancelled"
        cancel = getattr(generator, "cancel", None)
        if cancel is not None:
            try:
                cancel(task_id)
            except GeneratorError:
                # A running task cannot always be cancelled; it may still finish and be billed.
                cancelled = "it could not be cancelled and may still be billed"
        minutes = max(1, round(settings.TURNAROUND_PROVIDER_WAIT_DEADLINE / 60))
        waited = f"{minutes} minute{'s' if minutes != 1 else ''}"
        name = getattr(generator, "display", generation.provider)
        status = f" (its task was {pending.status})" if pending.status else ""
        services.generation_fail(
            generation=generation,
            reason=f"{name} did not finish within {waited}{status}; {cancelled}. Try again.",
        )
        return "failed"
    due = services.generation_wait(generation=generation, pending=pending)
    return "waiting" if due is not None else "discarded: superseded"


def _store_with_retries(
    generation: Generation, handler: StageHandler, result: GenerationResult
) -> str:
    """Keep the result in one transaction; files written for a rolled-back attempt are removed."""
    prepared = (handler.prepare(generation, result),) if handler.prepare is not None else ()
    for attempt in range(STORE_RETRIES):
        forget_written()
        try:
            return _store(generation, handler, result, prepared)
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


def _store(
    generation: Generation, handler: StageHandler, result: GenerationResult, prepared: tuple
) -> str:
    with transaction.atomic():
        locked = Generation.objects.select_for_update().get(pk=generation.pk)
        if locked.status != Generation.Status.RUNNING or locked.attempts != generation.attempts:
            # A later attempt took this generation over; its result is the one kept.
            return "discarded: superseded"
        handler.apply(locked, result, *prepared)
        Generation.objects.filter(pk=locked.pk).update(
            status=Generation.Status.SUCCEEDED,
            finished_at=timezone.now(),
            cost_usd=services.generation_cost(generation=locked, reported=result.cost_usd),
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


def score_identity(sheet_id: int) -> str:
    """Measure each panel of a sheet against the locked face (its own task, after the sheet is
    stored or a panel revised). Re-fetches; panels already scored are skipped."""
    option = SheetOption.objects.filter(pk=sheet_id).first()
    if option is None:
        return "skipped: the sheet is gone"
    made = services.identity_score_sheet(option=option)
    return f"scored {len(made)} panels"


def requeue_stuck_generations() -> str:
    """Every minute (a django-q2 Schedule, and the ticker in `manage.py worker`): re-enqueue
    generations a broker lost, and send any due provider check (the floor under the ticker,
    for deployments that run a plain qcluster)."""
    enqueue, gave_up = services.generation_requeue_stuck()
    for pk in enqueue:
        services.enqueue_generation(pk)
    for generation in Generation.objects.filter(pk__in=gave_up):
        handler = STAGE_HANDLERS[generation.stage]
        if handler.failed is not None:
            handler.failed(generation)
    if enqueue or gave_up:
        log.warning("requeued generations %s; gave up on %s", enqueue, gave_up)
    dispatch_due_checks()
    sweep = getattr(cache, "delete_expired", None)  # the shared database cache's old entries
    if sweep is not None:
        sweep()
    return f"requeued {len(enqueue)}, gave up on {len(gave_up)}"


def _generation_checks() -> int:
    """Due checks go to their lane in batches, about one per worker of the lane, at most
    CHECK_BATCH each (a batch's finished video is downloaded before its next read)."""
    by_lane: dict[str, list[int]] = {}
    due = services.generation_checks_due()
    for pk, stage in due:
        by_lane.setdefault(services.lane_for(stage), []).append(pk)
    for lane, ids in by_lane.items():
        workers = max(1, int(settings.TURNAROUND_LANES[lane]["workers"]))
        size = min(CHECK_BATCH, max(1, -(-len(ids) // workers)))
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            services.enqueue_on_lane(
                "characters.tasks.check_generations",
                batch,
                lane=lane,
                task_name=f"checks-{batch[0]}-{len(batch)}",
                group="checks",
            )
    return len(due)


CHECK_BATCH = 8


# Every kind of work that waits at a provider and is checked later: each entry hands out its
# due checks once (a conditional UPDATE) and enqueues them on their lane; returns how many.
def _reference_checks() -> int:
    """Due reads of the video provider's asset library (and uploads due again), in one task on
    the video lane: each is a status read of a few milliseconds."""
    due = references.reference_checks_due()
    if due:
        services.enqueue_on_lane(
            "characters.services.references.references_check_task",
            due,
            lane="video",
            task_name=f"reference-checks-{due[0]}-{len(due)}",
            group="checks",
        )
    return len(due)


DUE_CHECKS: tuple[Callable[[], int], ...] = (_generation_checks, _reference_checks)


def dispatch_due_checks() -> int:
    return sum(source() for source in DUE_CHECKS)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity; PostgreSQL's jsonb refuses them
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
