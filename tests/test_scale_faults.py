"""Faults survived with real workers: a worker killed mid-generation, Redis pausing, provider
errors across fifty generations. Marked `worker` (they start qcluster processes); the Redis
ones are also marked `scale` and skip unless REDIS_URL and DATABASE_URL are set, which
`make test-scale` does. Locking races on sheets are here too, pending the sheet stage."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf

from characters import services
from characters.models import Asset, CastingCandidate, Generation, SheetOption, Shot
from characters.tasks import requeue_stuck_generations
from tests.library import references_active
from tests.scale import Worker, provider_env, wait_for

needs_scale = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="needs PostgreSQL and Redis: run `make test-scale` (sets DATABASE_URL and REDIS_URL)",
)


@pytest.fixture
def workers(queue):
    started: list[Worker] = []

    def start(**kwargs) -> Worker:
        worker = Worker(queue=queue, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def recraft(fake, settings):
    """Casting routed to the real Recraft client, talking to the fake provider over loopback."""
    settings.TURNAROUND_ROUTES = {**settings.TURNAROUND_ROUTES, "casting": "recraft"}
    return fake


def _status(generation_id: int) -> tuple[str, int]:
    g = Generation.objects.get(pk=generation_id)
    return g.status, g.attempts


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_generation_is_delivered_again_and_finishes_once(
    character, owner, recraft, workers
):
    recraft.add_fault("recraft.generate", "latency", seconds=30)  # the first call hangs
    timing = {"TURNAROUND_TASK_TIMEOUT": "4", "TURNAROUND_TASK_RETRY": "6"}
    first = workers(extra={**provider_env(), **timing}, workers=1)
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    gid = candidate.generation_id
    wait_for(lambda: len(recraft.routed("recraft.generate")) == 1, timeout=30, what="the call")
    assert _status(gid) == ("running", 1)
    first.kill()

    # The broker may or may not redeliver (Redis never does); the app's own job does, once the
    # dead worker's deadline has passed.
    workers(extra={**provider_env(), **timing}, workers=1)
    wait_for(
        lambda: Generation.objects.get(pk=gid).deadline_at < timezone.now(),
        timeout=15,
        what="the deadline",
    )
    requeue_stuck_generations()
    wait_for(lambda: _status(gid)[0] in Generation.FINAL, timeout=60, what="the generation")

    generation = Generation.objects.get(pk=gid)
    assert (generation.status, generation.attempts) == ("succeeded", 2)
    assert generation.cost_usd is not None  # recorded once, by the attempt that finished
    assert Asset.objects.filter(project=character.project).count() == 1
    assert CastingCandidate.objects.get(pk=candidate.pk).image is not None
    # A late copy of the task (ORM broker redelivery, or the scheduled job) changes nothing.
    requeue_stuck_generations()
    time.sleep(1)
    assert _status(gid) == ("succeeded", 2)
    assert Asset.objects.filter(project=character.project).count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_fifty_generations_with_provider_errors_all_end_final(character, owner, recraft, workers):
    # 10 of the first requests (20% of 50) answer 429 or 503; the client retries within its
    # budget and the rest succeed. Whatever happens, nothing may stay queued or running.
    for i in range(10):
        if i % 2:
            recraft.add_fault("recraft.generate", "status", status=503, message="overloaded")
        else:
            recraft.add_fault("recraft.generate", "status", status=429, retry_after=0)
    workers(extra=provider_env(), workers=4)
    ids = []
    for count in (8, 8, 8, 8, 8, 8, 2):
        ids += [
            c.generation_id
            for c in services.casting_start(character=character, user=owner, count=count)
        ]
    assert len(ids) == 50

    def all_final() -> bool:
        return (
            not Generation.objects.filter(pk__in=ids).exclude(status__in=Generation.FINAL).exists()
        )

    wait_for(all_final, timeout=150, interval=0.5, what="fifty generations")
    outcomes = Generation.objects.filter(pk__in=ids)
    failed = outcomes.exclude(status="succeeded")
    assert all(g.error for g in failed), "every failure says why"
    assert outcomes.filter(status="succeeded").count() >= 45
    succeeded = outcomes.filter(status="succeeded")
    assert Asset.objects.filter(generation__in=succeeded).count() == succeeded.count()
    # The ten refusals were really served and retried (a few may end a generation instead).
    assert len(recraft.routed("recraft.generate")) >= 50 + 10 - failed.count()


@pytest.mark.worker
@pytest.mark.scale
@needs_scale
@pytest.mark.django_db(transaction=True)
def test_redis_pausing_during_generations_delays_them_but_loses_none(
    character, owner, recraft, workers
):
    recraft.add_fault("recraft.generate", "latency", times=4, seconds=1)
    workers(extra=provider_env(), workers=2)
    ids = [
        c.generation_id for c in services.casting_start(character=character, user=owner, count=4)
    ]
    redis_url = os.environ["REDIS_URL"]
    subprocess.run(
        ["redis-cli", "-u", redis_url, "CLIENT", "PAUSE", "3000", "ALL"],
        check=True,
        capture_output=True,
    )
    more = [
        c.generation_id for c in services.casting_start(character=character, user=owner, count=2)
    ]
    wait_for(
        lambda: Generation.objects.filter(pk__in=ids + more, status="succeeded").count() == 6,
        timeout=60,
        what="six generations after the pause",
    )
    assert Asset.objects.filter(project=character.project).count() == 6


@pytest.mark.worker
@pytest.mark.scale
@needs_scale
@pytest.mark.django_db(transaction=True)
def test_the_database_connection_dropping_mid_generation_resumes_the_save(
    character, owner, recraft, workers
):
    """PostgreSQL terminates the worker's connection while the provider call is in flight (as a
    failover or a restarted pooler does); the worker reconnects and keeps the paid result."""
    recraft.add_fault("recraft.generate", "latency", seconds=3)
    workers(extra=provider_env(), workers=1)
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    gid = candidate.generation_id
    wait_for(lambda: len(recraft.routed("recraft.generate")) == 1, timeout=30, what="the call")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    wait_for(lambda: _status(gid)[0] in Generation.FINAL, timeout=60, what="the generation")
    assert _status(gid) == ("succeeded", 1)
    assert len(recraft.routed("recraft.generate")) == 1  # paid once
    assert Asset.objects.filter(project=character.project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_editors_locking_different_sheet_options_at_once_lock_exactly_one(
    character, owner, editor, cast, approve
):
    if not hasattr(services, "sheet_lock"):
        pytest.skip("services.sheet_lock is not on this branch yet (the sheet stage is on main)")
    (face,) = cast(character, owner, count=1)
    approve(face, owner)
    options = []
    for index in (1, 2):
        generation = Generation.objects.create(
            project=character.project,
            character=character,
            stage="sheet",
            provider="offline",
            status="succeeded",
            finished_at=timezone.now() - timedelta(seconds=1),
        )
        options.append(
            SheetOption.objects.create(
                character=character,
                generation=generation,
                index=index,
                source_candidate=face,
                image=face.image,
                status="ready",
            )
        )
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(name, option, user):
        barrier.wait()
        try:
            services.sheet_lock(option=option, user=user)
            outcomes[name] = "locked"
        except services.ServiceError as exc:
            outcomes[name] = str(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=("a", options[0], owner)),
        threading.Thread(target=attempt, args=("b", options[1], editor)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(outcomes.values()).count("locked") == 1, outcomes
    assert SheetOption.objects.filter(character=character, status="locked").count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_shots_waiting_at_seedance_survive_a_killed_worker_and_render_once(
    character, owner, fake, workers, monkeypatch, settings
):
    """Shots wait at the provider, not in a worker: SIGKILL every worker while they render,
    start new ones, and each shot still finishes with one render and one charge."""
    settings.TURNAROUND_ROUTES = {
        **{stage: "offline" for stage in settings.TURNAROUND_ROUTES},
        "shot": "seedance",
    }
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    with monkeypatch.context() as inline:  # the locked references, made offline in-process
        inline.setattr(Conf, "SYNC", True)
        (face,) = services.casting_start(character=character, user=owner, count=1)
        face.refresh_from_db()
        services.candidate_approve(candidate=face, user=owner)
        (option,) = services.sheet_generate(character=character, user=owner, count=1)
        option.refresh_from_db()
        services.sheet_lock(option=option, user=owner)
    references_active(character, fake)  # Seedance takes the face as a library asset only
    fake.task_seconds = 8
    timing = {"TURNAROUND_SEEDANCE_POLL_INTERVAL": "0.5", "TURNAROUND_CHECK_MAX_INTERVAL": "1"}
    first = workers(extra={**provider_env(), **timing}, workers=1)
    shots = [
        services.shot_create(
            project=character.project, user=owner, prompt=f"Shot {n}", characters=[character]
        )
        for n in range(3)
    ]
    ids = [Shot.objects.get(pk=s.pk).generation_id for s in shots]
    waiting = Generation.objects.filter(pk__in=ids, check_at__isnull=False)
    wait_for(lambda: waiting.count() == 3, timeout=60, what="three shots waiting at Seedance")
    assert len(fake.routed("ark.create")) == 3
    first.kill()

    workers(extra={**provider_env(), **timing}, workers=1)
    done = Generation.objects.filter(pk__in=ids, status__in=Generation.FINAL)
    wait_for(lambda: done.count() == 3, timeout=120, what="three shots")
    for generation in Generation.objects.filter(pk__in=ids):
        assert generation.status == "succeeded", generation.error
        assert generation.cost_usd > 0  # charged once, by the check that found it finished
    assert len(fake.routed("ark.create")) == 3  # one render and one charge each
    for shot in Shot.objects.filter(pk__in=[s.pk for s in shots]):
        assert shot.video_id is not None and shot.renders.count() == 1
