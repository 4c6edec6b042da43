"""Delivery the app guarantees itself: lost work is enqueued again, attempts are capped, and a
generation's paid call and stored result happen once whatever the broker or storage does.

These run on SQLite by default and on PostgreSQL under `make test-scale`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Schedule

from characters import services, tasks
from characters.generators import offline
from characters.models import Asset, CastingCandidate, Generation
from characters.services import casting, generations
from characters.tasks import requeue_stuck_generations, run_generation
from tests.concurrency import at_once


def _files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _queued(character, owner, django_capture_on_commit_callbacks, count=1):
    """Casting generations left queued, as if the broker had lost them."""
    with django_capture_on_commit_callbacks(execute=False):
        candidates = services.casting_start(character=character, user=owner, count=count)
    return [c.generation for c in candidates]


@pytest.mark.django_db
class TestRequeue:
    def test_the_job_is_scheduled_every_minute_once(self):
        from django.apps import apps

        from characters.apps import REQUEUE_FUNC, ensure_schedules

        ensure_schedules(apps.get_app_config("characters"))
        (schedule,) = Schedule.objects.filter(func=REQUEUE_FUNC)
        assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)

    def test_a_generation_whose_worker_died_is_delivered_again_and_finishes_once(
        self, character, owner, django_capture_on_commit_callbacks
    ):
        (generation,) = _queued(character, owner, django_capture_on_commit_callbacks)
        # A worker claimed it, then died: running, past its deadline.
        assert services.generation_claim(generation_id=generation.pk) is not None
        Generation.objects.filter(pk=generation.pk).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert requeue_stuck_generations() == "requeued 1, gave up on 0"  # runs inline
        generation.refresh_from_db()
        assert (generation.status, generation.attempts) == ("succeeded", 2)
        assert Asset.objects.filter(generation=generation).count() == 1
        assert requeue_stuck_generations() == "requeued 0, gave up on 0"

    def test_a_running_generation_within_its_deadline_is_left_alone(
        self, character, owner, django_capture_on_commit_callbacks
    ):
        (generation,) = _queued(character, owner, django_capture_on_commit_callbacks)
        services.generation_claim(generation_id=generation.pk)
        assert requeue_stuck_generations() == "requeued 0, gave up on 0"
        generation.refresh_from_db()
        assert (generation.status, generation.attempts) == ("running", 1)

    def test_it_gives_up_after_the_cap_with_a_reason(
        self, character, owner, settings, django_capture_on_commit_callbacks
    ):
        settings.TURNAROUND_MAX_ATTEMPTS = 3
        (generation,) = _queued(character, owner, django_capture_on_commit_callbacks)
        Generation.objects.filter(pk=generation.pk).update(
            status="running", attempts=3, deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert requeue_stuck_generations() == "requeued 0, gave up on 1"
        generation.refresh_from_db()
        assert generation.status == "failed" and generation.finished_at is not None
        assert generation.error.startswith(
            "Gave up after 3 attempts: the worker stopped each time."
        )
        assert not Asset.objects.exists()

    def test_a_queued_generation_nobody_took_is_enqueued_again_after_the_grace(
        self, character, owner, settings, django_capture_on_commit_callbacks
    ):
        settings.TURNAROUND_REQUEUE_AFTER = 180
        _fresh, old = _queued(character, owner, django_capture_on_commit_callbacks, count=2)
        Generation.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - timedelta(minutes=4)
        )
        enqueue, gave_up = services.generation_requeue_stuck()
        assert (enqueue, gave_up) == ([old.pk], [])
        old.refresh_from_db()
        # Looked at again only after another grace period: a slow queue gets no flood of copies.
        assert old.deadline_at > timezone.now() + timedelta(seconds=170)
        assert services.generation_requeue_stuck() == ([], [])

    def test_a_requeued_copy_that_arrives_after_success_does_nothing(self, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        assert run_generation(candidate.generation_id).startswith("skipped")
        assert run_generation(candidate.generation_id).startswith("skipped")
        assert Asset.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_picking_up_the_same_generation_make_one_image(character, owner, monkeypatch):
    with monkeypatch.context() as lost:
        lost.setattr(
            generations, "enqueue_generation", lambda pk, **lane: None
        )  # delivered twice, below
        (candidate,) = services.casting_start(character=character, user=owner, count=1)
    generation = candidate.generation
    calls = []
    real = offline.OfflineGenerator._casting

    def counted(self, request):
        calls.append(request.seed)
        return real(self, request)

    monkeypatch.setattr(offline.OfflineGenerator, "_casting", counted)
    outcomes = at_once(*[lambda: run_generation(generation.pk)] * 2)
    assert sorted(o.split(":")[0] for o in outcomes) == ["skipped", "succeeded"]
    assert len(calls) == 1  # one paid call
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 1)
    assert Asset.objects.filter(generation=generation).count() == 1
    candidate = CastingCandidate.objects.get(generation=generation)
    assert candidate.image is not None


@pytest.mark.django_db
class TestStorageAndDatabaseFaults:
    def test_a_storage_failure_fails_the_generation_and_leaves_no_row_or_file(
        self, character, owner, cast, monkeypatch, settings
    ):
        from django.core.files.storage import FileSystemStorage

        real_save = FileSystemStorage.save
        saved = []

        def save_then_fail(self, name, content, max_length=None):
            if name.endswith(".preview.webp"):  # the original is written, then the disk fills
                raise OSError(28, "No space left on device")
            saved.append(name)
            return real_save(self, name, content, max_length)

        monkeypatch.setattr(FileSystemStorage, "save", save_then_fail)
        (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.status == "failed"
        assert generation.error.startswith("The file could not be saved to storage (OSError)")
        assert saved, "the original was written before the failure"
        assert not Asset.objects.exists()
        assert candidate.image is None
        assert _files(settings) == []

    def test_a_database_outage_while_saving_is_retried_and_the_work_resumes(
        self, character, owner, cast, monkeypatch, settings
    ):
        monkeypatch.setattr(tasks, "STORE_BACKOFF", 0.01)
        real_apply = casting.casting_keep
        failures = iter([True, True])  # the first two saves find the database gone

        def flaky_apply(generation, result, picture):
            real_apply(generation, result, picture)  # the files are written ...
            if next(failures, False):
                raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setitem(
            tasks.STAGE_HANDLERS,
            "casting",
            replace(tasks.STAGE_HANDLERS["casting"], apply=flaky_apply),
        )
        (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert (generation.status, generation.attempts) == ("succeeded", 1)
        assert Asset.objects.count() == 1
        asset = Asset.objects.get()
        assert _files(settings) == sorted(
            [asset.file.name, asset.preview.name, asset.thumbnail.name]
        )

    def test_a_database_outage_past_the_retries_fails_with_a_reason_and_no_files(
        self, character, owner, cast, monkeypatch, settings
    ):
        monkeypatch.setattr(tasks, "STORE_BACKOFF", 0.01)
        real_apply = casting.casting_keep

        def broken_apply(generation, result, picture):
            real_apply(generation, result, picture)
            raise OperationalError("could not connect to server")

        monkeypatch.setitem(
            tasks.STAGE_HANDLERS,
            "casting",
            replace(tasks.STAGE_HANDLERS["casting"], apply=broken_apply),
        )
        (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.status == "failed"
        assert generation.error.startswith("The database was unavailable while saving this")
        assert not Asset.objects.exists()
        assert _files(settings) == []
