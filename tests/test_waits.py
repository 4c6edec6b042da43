"""Long provider waits never hold a worker: a shot is submitted to Seedance (the fake, over
loopback) and the worker is free at once; its checks are handed out once each, back off, and
end at an overall deadline; a worker lost mid-check costs neither a second render nor a second
charge; each stage's task goes to its lane's queue.

The broker here is the ORM broker on the test database (Conf.SYNC off): tasks really are
enqueued, and the test plays the worker by calling the task with the id it was given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signals import pre_enqueue

from characters import services, tasks
from characters.generators.base import Pending
from characters.models import Asset, Character, Generation, Shot
from characters.services import generations, shots
from characters.tasks import dispatch_due_checks, requeue_stuck_generations, run_generation
from tests.library import references_active


@pytest.fixture
def seedance(fake, settings):
    settings.TURNAROUND_ROUTES = {**settings.TURNAROUND_ROUTES, "shot": "seedance"}
    settings.TURNAROUND_SEEDANCE_POLL_INTERVAL = 5.0
    return fake


@pytest.fixture
def queued(queue):
    """Tasks go to the real broker (ORM or Redis) on a queue of this test's own, not inline;
    returns the queue each enqueued task went to, in order. The queues are emptied after."""
    sent: list[str] = []

    def record(sender, task, **kwargs):
        sent.append(task.get("cluster") or Conf.CLUSTER_NAME)

    pre_enqueue.connect(record, dispatch_uid="test-waits-queued")
    yield lambda: list(sent)
    pre_enqueue.disconnect(dispatch_uid="test-waits-queued")
    for queue in set(sent):
        get_broker(queue).purge_queue()


def _shot(character, owner, django_capture_on_commit_callbacks, fake) -> Generation:
    references_active(character, fake)
    with django_capture_on_commit_callbacks(execute=True):
        shot = services.shot_create(
            project=character.project, user=owner, prompt="She turns", characters=[character]
        )
    return Shot.objects.get(pk=shot.pk).generation


def _due_now(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        check_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
class TestWaitingAtSeedance:
    def test_a_submitted_shot_frees_the_worker_and_keeps_its_task(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        assert queued() == [f"{Conf.CLUSTER_NAME}-video"]  # the video lane's queue
        before = timezone.now()
        assert run_generation(generation.pk) == "waiting"
        generation.refresh_from_db()
        assert generation.status == "running" and generation.attempts == 1
        assert generation.provider_request_id.startswith("cgt-")
        assert generation.deadline_at is None  # no worker holds it
        assert before + timedelta(seconds=4) < generation.check_at
        assert generation.check_at < timezone.now() + timedelta(seconds=6)
        assert generation.wait_until > timezone.now() + timedelta(minutes=29)
        assert len(seedance.routed("ark.create")) == 1
        assert seedance.routed("ark.poll") == []

    def test_checks_are_handed_out_once_and_the_shot_finishes_with_one_charge(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        assert dispatch_due_checks() == 0  # not due yet
        outcomes = []
        for _ in range(5):
            _due_now(generation)
            assert dispatch_due_checks() == 1
            assert dispatch_due_checks() == 0  # the lease: no second copy of the same check
            outcomes.append(run_generation(generation.pk))
            if outcomes[-1] != "waiting":
                break
        # The fake's task: queued, running, then succeeded on the third read.
        assert outcomes == ["waiting", "waiting", "succeeded"]
        generation.refresh_from_db()
        assert (generation.status, generation.attempts, generation.checks) == ("succeeded", 1, 3)
        assert generation.cost_usd > 0 and generation.check_at is None
        assert len(seedance.routed("ark.create")) == 1
        assert len(seedance.routed("ark.poll")) == 3
        assert Asset.objects.filter(generation=generation).count() == 1
        assert Shot.objects.get(generation=generation).video is not None
        assert queued().count(f"{Conf.CLUSTER_NAME}-video") == 4  # the submit and three checks

    def test_a_check_reads_no_reference_images(
        self,
        ready,
        character,
        owner,
        seedance,
        queued,
        monkeypatch,
        django_capture_on_commit_callbacks,
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)

        def whole_request(generation):
            raise AssertionError("a check built the whole request")

        monkeypatch.setitem(
            tasks.STAGE_HANDLERS, "shot", tasks.StageHandler(whole_request, shots.shot_keep)
        )
        _due_now(generation)
        assert run_generation(generation.pk) == "waiting"
        generation.refresh_from_db()
        assert generation.checks == 1 and generation.status == "running"

    def test_two_copies_of_one_check_read_the_task_once(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        assert services.generation_claim_check(generation_id=generation.pk) is not None
        # A second copy while the first is checking: nothing to claim, nothing read.
        assert run_generation(generation.pk).startswith("skipped")
        assert services.generation_claim_check(generation_id=generation.pk) is None
        assert seedance.routed("ark.poll") == []

    def test_a_worker_lost_mid_check_is_resumed_without_a_second_render(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        # A worker takes the check, then dies (SIGKILL): the claim outlives its deadline.
        services.generation_claim_check(generation_id=generation.pk)
        Generation.objects.filter(pk=generation.pk).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert requeue_stuck_generations() == "requeued 1, gave up on 0"
        for _ in range(5):
            outcome = run_generation(generation.pk)
            if outcome != "waiting":
                break
            _due_now(generation)
        assert outcome == "succeeded"
        generation.refresh_from_db()
        assert (generation.status, generation.attempts) == ("succeeded", 2)
        assert len(seedance.routed("ark.create")) == 1  # one render, one charge
        assert Asset.objects.filter(generation=generation).count() == 1

    def test_a_late_worker_cannot_undo_a_takeover(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        late = services.generation_claim_check(generation_id=generation.pk)
        Generation.objects.filter(pk=generation.pk).update(
            status="queued", deadline_at=None, attempts=2
        )
        pending = Pending("cgt-late", after=5.0, status="running")
        assert services.generation_wait(generation=late, pending=pending) is None
        generation.refresh_from_db()
        assert generation.provider_request_id != "cgt-late" and generation.status == "queued"

    def test_a_shot_past_the_wait_deadline_is_cancelled_and_says_so(
        self,
        ready,
        character,
        owner,
        seedance,
        queued,
        settings,
        django_capture_on_commit_callbacks,
    ):
        seedance.add_fault("ark.create", "never")
        settings.TURNAROUND_PROVIDER_WAIT_DEADLINE = 60
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        generation.refresh_from_db()
        assert generation.check_at <= generation.wait_until
        _due_now(generation)
        assert run_generation(generation.pk) == "waiting"  # still running at the fake
        Generation.objects.filter(pk=generation.pk).update(
            wait_until=timezone.now() - timedelta(seconds=1)
        )
        _due_now(generation)
        assert run_generation(generation.pk) == "failed"
        generation.refresh_from_db()
        assert generation.status == "failed"
        assert generation.error.startswith("Seedance did not finish within 1 minute ")
        assert "it was cancelled" in generation.error
        assert len(seedance.routed("ark.delete")) == 1
        assert not Asset.objects.filter(generation=generation).exists()

    def test_a_retried_shot_submits_a_new_task(
        self, ready, character, owner, seedance, queued, django_capture_on_commit_callbacks
    ):
        seedance.add_fault("ark.create", "sensitive")
        generation = _shot(character, owner, django_capture_on_commit_callbacks, seedance)
        run_generation(generation.pk)
        for _ in range(4):
            _due_now(generation)
            if run_generation(generation.pk) != "waiting":
                break
        generation.refresh_from_db()
        assert generation.status == "blocked"
        Generation.objects.filter(pk=generation.pk).update(status="failed")
        with django_capture_on_commit_callbacks(execute=True):
            services.generation_retry(generation=generation, user=owner)
        generation.refresh_from_db()
        assert (generation.provider_request_id, generation.check_at) == ("", None)
        assert run_generation(generation.pk) == "waiting"
        assert len(seedance.routed("ark.create")) == 2


def test_checks_back_off_to_the_configured_interval(settings):
    settings.TURNAROUND_CHECK_BACKOFF = 1.5
    settings.TURNAROUND_CHECK_MAX_INTERVAL = 15
    delays = [generations.check_delay(after=5, checks=n) for n in range(6)]
    assert delays == [5, 7.5, 11.25, 15, 15, 15]
    # A provider asking for longer than the cap is listened to.
    assert generations.check_delay(after=30, checks=0) == 30


@pytest.mark.parametrize(
    ("stage", "lane"),
    [
        ("casting", "interactive"),
        ("upscale", "interactive"),
        ("inspect", "interactive"),
        ("sheet", "images"),
        ("edit", "images"),
        ("shot", "video"),
        ("label", "video"),  # follow-up work: nobody waits on it at their screen
    ],
)
def test_each_stage_runs_on_its_lane(stage, lane, monkeypatch):
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "studio")
    assert services.lane_for(stage) == lane
    expected = "studio" if lane == "interactive" else f"studio-{lane}"
    assert services.lane_queue(services.lane_for(stage)) == expected


def test_a_lane_with_no_workers_hands_its_work_to_the_interactive_lane(settings):
    lanes = {name: dict(config) for name, config in settings.TURNAROUND_LANES.items()}
    lanes["video"]["workers"] = 0
    settings.TURNAROUND_LANES = lanes
    assert services.lane_for("shot") == "interactive"
    assert services.lane_for("sheet") == "images"


@pytest.mark.django_db
def test_identity_scores_and_reference_uploads_queue_on_the_video_lane_not_before_casting(
    character, owner, queued, django_capture_on_commit_callbacks
):
    """Follow-ups of a stored or locked sheet never take a worker casting needs."""
    from characters.services import identity, references

    with django_capture_on_commit_callbacks(execute=True):
        identity.identity_enqueue(option_id=1)
        references.references_sync_on_commit(character_id=character.pk)
    base = Conf.CLUSTER_NAME
    assert queued() == [f"{base}-video", f"{base}-video"]


@pytest.mark.django_db
def test_casting_and_sheets_are_queued_on_their_own_lanes(
    character, owner, locked_face, queued, django_capture_on_commit_callbacks, settings
):
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    newcomer = Character.objects.create(
        project=character.project, name="Ike", slug="ike", brief="A young man."
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.casting_start(character=newcomer, user=owner, count=2)
        services.sheet_generate(character=character, user=owner, count=2)
    base = Conf.CLUSTER_NAME
    assert sorted(queued()) == sorted([base, base, f"{base}-images", f"{base}-images"])
