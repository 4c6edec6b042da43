"""Generations: create, enqueue on its lane on commit, claim, wait at a task-based provider
(check again later, never in a sleeping worker), fail, retry, re-queue stuck work."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM as OrmBroker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.tasks import async_task

from ..generators.base import GenerationRequest, GenerationResult, Pending
from ..generators.routing import get_generator, provider_for
from ..models import (
    Asset,
    Character,
    Generation,
    Project,
)
from ..permissions import Action
from ..storage import Picture, asset_store, picture_of
from ..validation import cost_problem
from .core import ServiceError, activity_record, require
from .projects import _check_budget

log = logging.getLogger(__name__)

# --- generations -----------------------------------------------------------------------------


def _deadline() -> timedelta:
    """How long a claim may run before it counts as dead: this worker's own task timeout (the
    lane's, set by `manage.py worker`), so the requeue job never takes over live work."""
    return timedelta(seconds=int(Conf.TIMEOUT or settings.Q_CLUSTER.get("timeout", 900)))


# --- lanes -----------------------------------------------------------------------------------


def lane_for(stage: str) -> str:
    for lane, config in settings.TURNAROUND_LANES.items():
        if stage in config["stages"]:
            return lane_served(lane)
    return "interactive"


def lane_served(lane: str) -> str:
    """The lane itself, or the interactive lane where the settings give it no workers."""
    config = settings.TURNAROUND_LANES.get(lane)
    return lane if config and int(config["workers"]) > 0 else "interactive"


def lane_queue(lane: str) -> str:
    """The broker queue of a lane: the interactive lane is the base queue (what a plain
    `qcluster` serves); the others are `<base>-<lane>`. `manage.py worker` records the base
    before it renames each lane's cluster, so enqueueing from inside a lane stays right."""
    base = getattr(Conf, "TURNAROUND_BASE_QUEUE", None) or Conf.CLUSTER_NAME
    return base if lane == "interactive" else f"{base}-{lane}"


def enqueue_on_lane(func: str, *args: object, lane: str, task_name: str, group: str) -> None:
    """Hand a task (by dotted path) to a lane's workers."""
    async_task(func, *args, task_name=task_name, group=group, cluster=lane_queue(lane_served(lane)))


def generation_create(
    *,
    project: Project,
    character: Character | None,
    stage: str,
    prompt: str,
    user: AbstractBaseUser | None,
    parameters: dict | None = None,
    reference_ids: list[str] | None = None,
    seed: int | None = None,
) -> Generation:
    """A queued Generation for the stage's routed provider; the task is enqueued on commit."""
    (generation,) = generations_create(
        project=project,
        character=character,
        stage=stage,
        prompt=prompt,
        user=user,
        parameters=parameters,
        reference_ids=reference_ids,
        seeds=[seed],
    )
    return generation


def generations_create(
    *,
    project: Project,
    character: Character | None,
    stage: str,
    prompt: str,
    user: AbstractBaseUser | None,
    seeds: list[int | None],
    parameters: dict | None = None,
    reference_ids: list[str] | None = None,
) -> list[Generation]:
    """Several queued Generations of one request (the options of one click), one per seed:
    priced and checked against the budget together, written in one insert, each enqueued on
    commit. A seed of None is drawn at random."""
    if character is not None and character.archived_at is not None and user is not None:
        # Archived is cut from the film for now: nobody pays for new work on it by accident.
        # Work the system does by itself (labels and checks of what is already made) goes on.
        raise ServiceError(
            f"{character.name} is archived, so nothing new is made for them and nothing was "
            "charged. Restore the character (at the top of its page) to go on."
        )
    provider = provider_for(stage)
    generator = get_generator(provider)
    params = parameters or {}
    try:
        estimate = generator.estimate_cost(
            GenerationRequest(
                stage=stage,
                prompt=prompt,
                seed=seeds[0],
                width=params.get("width"),
                height=params.get("height"),
                image_size=params.get("image_size"),
                aspect_ratio=params.get("aspect_ratio"),
            )
        )
        model = generator.model_for(stage)
    finally:
        generator.close()
    _check_budget(project, estimate * len(seeds))
    generations = Generation.objects.bulk_create(
        [
            Generation(
                project=project,
                character=character,
                stage=stage,
                provider=provider,
                model=model,
                prompt=prompt,
                parameters=params,
                reference_ids=reference_ids or [],
                seed=seed if seed is not None else random.randint(0, 2**31 - 1),
                estimated_cost_usd=estimate,
                requested_by=user if user is not None and user.is_authenticated else None,
            )
            for seed in seeds
        ]
    )
    ids = [g.pk for g in generations]
    transaction.on_commit(lambda: enqueue_generations(ids, stage=stage))
    return generations


def enqueue_generation(generation_id: int, *, stage: str = "") -> None:
    """Hand a generation to its lane's workers now. The task is named by its dotted path, so
    services never import the runner (tasks imports services, not the other way round)."""
    stage = stage or Generation.objects.values_list("stage", flat=True).get(pk=generation_id)
    enqueue_on_lane(
        "characters.tasks.run_generation",
        generation_id,
        lane=lane_for(stage),
        task_name=f"generation-{generation_id}",
        group="generations",
    )


def enqueue_generations(ids: list[int], *, stage: str) -> None:
    """Hand several generations of one stage to their lane's workers at once. On the ORM broker
    (the embedded default) their queue rows are written in one insert, exactly as the broker
    writes one (django_q.brokers.orm: key, signed payload, lock); other brokers take them one
    by one."""
    broker = get_broker(lane_queue(lane_for(stage)))
    if len(ids) < 2 or Conf.SYNC or not isinstance(broker, OrmBroker):
        for pk in ids:
            enqueue_generation(pk, stage=stage)
        return
    packs: list[str] = []

    class Collect:  # stands in for the broker while async_task builds and signs each task
        list_key = broker.list_key

        def enqueue(self, pack: str) -> None:
            packs.append(pack)

    for pk in ids:
        async_task(
            "characters.tasks.run_generation",
            pk,
            task_name=f"generation-{pk}",
            group="generations",
            cluster=broker.list_key,
            broker=Collect(),
        )
    now = timezone.now()
    key = broker.list_key or Conf.CLUSTER_NAME
    OrmQ.objects.bulk_create([OrmQ(key=key, payload=pack, lock=now) for pack in packs])
    ring = getattr(broker, "ring", None)  # studio.doorbell: wake the lane's worker now
    if ring is not None:
        ring()


def generation_enqueue(*, generation: Generation) -> None:
    transaction.on_commit(lambda: enqueue_generation(generation.pk, stage=generation.stage))


def generation_claim(*, generation_id: int) -> Generation | None:
    """Move a generation to running for this worker, or None when another has it or it is done.

    A generation still `running` past its deadline belonged to a worker that died: it can be
    claimed again. The conditional UPDATE is the lock, so two workers never both run one.
    """
    now = timezone.now()
    claimed = Generation.objects.filter(
        Q(status=Generation.Status.QUEUED)
        | Q(status=Generation.Status.RUNNING, deadline_at__lt=now),
        pk=generation_id,
    ).update(
        status=Generation.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        deadline_at=now + _deadline(),
    )
    if not claimed:
        return None
    return Generation.objects.select_related("project", "character").get(pk=generation_id)


def generation_claim_check(*, generation_id: int) -> Generation | None:
    """Take a generation waiting at its provider for one status check, or None when it is not
    waiting (another worker is checking it, or it is final). Not an attempt: a check pays for
    nothing, and a worker that dies mid-check leaves a claim the requeue job hands back."""
    now = timezone.now()
    claimed = Generation.objects.filter(
        pk=generation_id, status=Generation.Status.RUNNING, check_at__isnull=False
    ).update(check_at=None, checks=F("checks") + 1, deadline_at=now + _deadline())
    if not claimed:
        return None
    return Generation.objects.select_related("project", "character").get(pk=generation_id)


def check_delay(*, after: float, checks: int) -> float:
    """Seconds to the next check: the provider's hint, 1.5x further off per check made, capped."""
    grown = after * settings.TURNAROUND_CHECK_BACKOFF**checks
    return max(0.0, min(grown, max(after, settings.TURNAROUND_CHECK_MAX_INTERVAL)))


def generation_wait(*, generation: Generation, pending: Pending) -> datetime | None:
    """Record that the provider is still at it and free the worker: the task id is kept (a
    later check reads it, never pays again) and the next check is due after a backoff.

    Returns when the next check is due (never past the overall wait deadline, so the last
    check comes at it), or None when this claim was taken over by another worker."""
    now = timezone.now()
    wait_until = generation.wait_until or now + timedelta(
        seconds=settings.TURNAROUND_PROVIDER_WAIT_DEADLINE
    )
    due = now + timedelta(seconds=check_delay(after=pending.after, checks=generation.checks))
    moved = Generation.objects.filter(
        pk=generation.pk,
        status=Generation.Status.RUNNING,
        attempts=generation.attempts,
        check_at__isnull=True,
    ).update(
        provider_request_id=pending.task_id[:200],
        check_at=min(due, wait_until),
        wait_until=wait_until,
        deadline_at=None,
        response_metadata={"provider_status": pending.status, "full_request": pending.full_request},
    )
    return min(due, wait_until) if moved else None


def generation_checks_due(*, now: datetime | None = None) -> list[tuple[int, str]]:
    """Generations whose next provider check is due, handed out once: each is moved a lease
    ahead by a conditional UPDATE, so two dispatchers (every worker's ticker, the minute job)
    never send the same check twice, and a check task the broker lost is sent again after
    the lease. Returns (id, stage) pairs to enqueue."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=CHECK_LEASE)
    due = list(
        Generation.objects.filter(status=Generation.Status.RUNNING, check_at__lte=now)
        .order_by("check_at")
        .values_list("pk", "stage")[:CHECK_BATCH]
    )
    handed = []
    for pk, stage in due:
        if Generation.objects.filter(
            pk=pk, status=Generation.Status.RUNNING, check_at__lte=now
        ).update(check_at=lease):
            handed.append((pk, stage))
    return handed


# A dispatched check that never ran (its task lost with a dead worker) is sent again after this.
CHECK_LEASE = 30
CHECK_BATCH = 500


def generation_requeue_stuck(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Find work a broker lost and hand it back; give up on work that keeps killing workers.

    The Redis broker forgets a task whose worker died. A generation `running` past its deadline
    (its worker stopped) goes back to `queued`, unless it has used its attempts: then it fails
    with a reason. A generation `queued` for longer than the grace with no worker taking it is
    enqueued again. `deadline_at` on a queued generation is when to look at it next, so a
    slow queue is not flooded with copies. Claiming stays the only lock: a copy that arrives
    late finds the generation running or final and does nothing.

    Returns (ids to enqueue, ids given up on).
    """
    now = now or timezone.now()
    cap = settings.TURNAROUND_MAX_ATTEMPTS
    grace = timedelta(seconds=settings.TURNAROUND_REQUEUE_AFTER)
    dead = Generation.objects.filter(status=Generation.Status.RUNNING, deadline_at__lt=now)
    gave_up = list(dead.filter(attempts__gte=cap).values_list("pk", flat=True))
    for pk in gave_up:
        Generation.objects.filter(
            pk=pk, status=Generation.Status.RUNNING, deadline_at__lt=now
        ).update(
            status=Generation.Status.FAILED,
            error=f"Gave up after {cap} attempts: the worker stopped each time. Try again, "
            "and if it keeps happening tell whoever runs Turnaround.",
            finished_at=now,
        )
    requeue = list(dead.filter(attempts__lt=cap).values_list("pk", flat=True))
    requeue += Generation.objects.filter(
        Q(deadline_at__isnull=True, created_at__lt=now - grace) | Q(deadline_at__lt=now),
        status=Generation.Status.QUEUED,
    ).values_list("pk", flat=True)
    enqueue = []
    for pk in requeue:
        moved = Generation.objects.filter(
            Q(status=Generation.Status.RUNNING, attempts__lt=cap)
            | Q(status=Generation.Status.QUEUED),
            Q(deadline_at__lt=now) | Q(deadline_at__isnull=True),
            pk=pk,
        ).update(status=Generation.Status.QUEUED, deadline_at=now + grace)
        if moved:
            enqueue.append(pk)
    return enqueue, gave_up


def generation_fail(*, generation: Generation, reason: str, blocked: bool = False) -> None:
    status = Generation.Status.BLOCKED if blocked else Generation.Status.FAILED
    Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(
        status=status, error=reason[:2000], finished_at=timezone.now()
    )


def generation_retry(*, generation: Generation, user: AbstractBaseUser | None) -> Generation:
    require(project=generation.project, user=user, action=Action.GENERATE)
    with transaction.atomic():
        _check_budget(generation.project, generation.estimated_cost_usd)
        updated = Generation.objects.filter(
            pk=generation.pk, status__in=[Generation.Status.FAILED, Generation.Status.CANCELLED]
        ).update(
            status=Generation.Status.QUEUED,
            error="",
            finished_at=None,
            started_at=None,
            deadline_at=None,
            # A retry is new work: a new provider task, its own checks and deadline.
            provider_request_id="",
            check_at=None,
            wait_until=None,
            checks=0,
        )
        if not updated:
            raise ServiceError("Only a failed generation can be retried.")
        activity_record(
            project=generation.project,
            actor=user,
            verb="retried generation",
            target=generation,
            character=generation.character,
            stage=generation.stage,
        )
        generation_enqueue(generation=generation)
    generation.refresh_from_db()
    return generation


def result_picture(generation: Generation, result: GenerationResult) -> Picture:
    """The answer's picture decoded and its sizes derived: a stage's prepare step
    (tasks.StageHandler), run before the transaction that keeps it."""
    return picture_of(result.assets[0].data)


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


def generation_cost(*, generation: Generation, reported: object) -> Decimal:
    """The cost to keep for a finished generation: the provider's figure when it is a finite
    number within 0..TURNAROUND_MAX_GENERATION_COST_USD, else the stage's estimate (logged).
    A provider that reports NaN, a negative or an absurd charge never corrupts spend and
    budgets, and the paid result is kept either way."""
    maximum = Decimal(str(settings.TURNAROUND_MAX_GENERATION_COST_USD))
    problem = cost_problem(reported, maximum=maximum)
    if not problem:
        return Decimal(str(reported)).quantize(Decimal("0.0001"))
    log.warning(
        "generation %s: %s reported a cost that %s (%.40s); kept the estimate $%s instead",
        generation.pk,
        generation.provider,
        problem,
        str(reported),
        generation.estimated_cost_usd,
    )
    return generation.estimated_cost_usd
