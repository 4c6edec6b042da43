"""Casting services and the generation task: state after each action, read back from the database."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from characters import services
from characters.models import Activity, CastingCandidate, Character, Generation
from characters.permissions import Denied
from characters.tasks import run_generation


@pytest.mark.django_db
class TestCasting:
    def test_it_queues_one_generation_per_candidate_and_runs_them(self, character, owner, cast):
        candidates = cast(character, owner, count=3)
        assert len(candidates) == 3
        for candidate in candidates:
            generation = candidate.generation
            generation.refresh_from_db()
            assert generation.status == Generation.Status.SUCCEEDED
            assert generation.provider == "offline"
            assert generation.attempts == 1
            assert generation.cost_usd == 0
            assert candidate.image.width == 896 and candidate.image.height == 1216
            assert candidate.image.thumbnail and candidate.image.preview
        assert len({c.generation.seed for c in candidates}) == 3
        assert Activity.objects.filter(character=character, verb="cast candidates").count() == 1

    def test_the_prompt_carries_the_brief_but_not_the_hand_props(self, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        assert "weathered olive skin" in candidate.generation.prompt
        assert "lantern" not in candidate.generation.prompt

    @pytest.mark.parametrize("count", [0, 9, 50, -1])
    def test_it_refuses_a_count_outside_one_to_eight(self, character, owner, count):
        with pytest.raises(services.ServiceError, match="between 1 and 8"):
            services.casting_start(character=character, user=owner, count=count)
        assert not Generation.objects.exists()

    def test_a_viewer_cannot_cast(self, character, member):
        viewer = member("viewer")
        with pytest.raises(Denied):
            services.casting_start(character=character, user=viewer, count=1)
        assert not Generation.objects.exists()


@pytest.mark.django_db
class TestGenerationTask:
    def test_a_redelivered_task_makes_no_second_image(self, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        assert run_generation(candidate.generation_id).startswith("skipped")
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.attempts == 1
        assert character.project.assets.count() == 1

    def test_a_generation_abandoned_by_a_dead_worker_can_be_claimed_again(
        self, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        from datetime import timedelta

        from django.utils import timezone

        Generation.objects.filter(pk=candidate.generation_id).update(
            status="running", deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert run_generation(candidate.generation_id) == "succeeded"
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert (generation.status, generation.attempts) == ("succeeded", 2)
        assert character.project.assets.count() == 1  # same bytes, same asset

    def test_a_provider_failure_is_recorded_with_its_reason_and_can_be_retried(
        self, character, owner, cast, monkeypatch, django_capture_on_commit_callbacks
    ):
        from characters.generators import offline
        from characters.generators.base import GeneratorError

        def refuse(self, request):
            raise GeneratorError(
                "The provider is overloaded; try again in a minute.", permanent=False
            )

        with monkeypatch.context() as patched:
            patched.setattr(offline.OfflineGenerator, "_casting", refuse)
            (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.status == "failed"
        assert generation.error == "The provider is overloaded; try again in a minute."
        assert candidate.image is None

        with django_capture_on_commit_callbacks(execute=True):
            services.generation_retry(generation=generation, user=owner)
        generation.refresh_from_db()
        candidate.refresh_from_db()
        assert generation.status == "succeeded" and generation.attempts == 2
        assert candidate.image is not None

    def test_a_refusal_ends_blocked_with_the_providers_words(
        self, character, owner, cast, monkeypatch
    ):
        from characters.generators import offline
        from characters.generators.base import GeneratorError

        def block(self, request):
            raise GeneratorError(
                "Blocked by the provider: IMAGE_SAFETY", permanent=True, blocked=True
            )

        monkeypatch.setattr(offline.OfflineGenerator, "_casting", block)
        (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.status == "blocked"
        assert "IMAGE_SAFETY" in generation.error
        with pytest.raises(services.ServiceError, match="Only a failed generation"):
            services.generation_retry(generation=generation, user=owner)

    def test_a_corrupt_image_fails_the_generation_and_stores_nothing(
        self, character, owner, cast, monkeypatch
    ):
        from characters.generators import offline
        from characters.generators.base import GeneratedAsset

        def corrupt(self, request):
            return [GeneratedAsset(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png")], {}

        monkeypatch.setattr(offline.OfflineGenerator, "_casting", corrupt)
        (candidate,) = cast(character, owner, count=1)
        generation = Generation.objects.get(pk=candidate.generation_id)
        assert generation.status == "failed"
        assert "damaged" in generation.error or "not an image" in generation.error
        assert not character.project.assets.exists()


@pytest.mark.django_db
class TestDecisions:
    def test_shortlist_reject_and_clear(self, character, owner, cast):
        a, b = cast(character, owner, count=2)
        services.candidate_decide(candidate=a, user=owner, decision="shortlisted")
        services.candidate_decide(candidate=b, user=owner, decision="rejected")
        a.refresh_from_db(), b.refresh_from_db()
        assert (a.decision, b.decision) == ("shortlisted", "rejected")
        assert a.decided_by == owner
        services.candidate_decide(candidate=b, user=owner, decision="pending")
        b.refresh_from_db()
        assert b.decision == "pending"
        assert Activity.objects.filter(verb="shortlisted candidate").count() == 1

    def test_a_reviewer_cannot_decide(self, character, owner, cast, member):
        (candidate,) = cast(character, owner, count=1)
        with pytest.raises(Denied):
            services.candidate_decide(
                candidate=candidate, user=member("reviewer"), decision="shortlisted"
            )


@pytest.mark.django_db
class TestApproval:
    def test_approving_locks_the_face_upscales_it_and_records_who(
        self, character, owner, cast, approve, settings
    ):
        settings.TURNAROUND_UPSCALE_TARGET = 4096
        a, _ = cast(character, owner, count=2)
        approve(a, owner)
        character.refresh_from_db()
        assert character.locked_candidate == a
        assert character.stage == "sheet"
        assert character.reference_revision == 1
        assert a.decision == "approved" and a.decided_by == owner and a.decided_at
        assert a.upscale_generation.status == "succeeded"
        assert max(a.image_4k.width, a.image_4k.height) == 4096
        activity = Activity.objects.get(verb="approved face")
        assert activity.actor == owner and activity.target_id == a.pk

    def test_approving_twice_is_refused_plainly(self, character, owner, cast, approve):
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        with pytest.raises(services.ServiceError, match="already approved"):
            services.candidate_approve(candidate=a, user=owner)
        assert Generation.objects.filter(stage="upscale").count() == 1

    def test_approving_a_second_candidate_is_refused_while_the_face_is_locked(
        self, character, owner, cast, approve
    ):
        a, b = cast(character, owner, count=2)
        approve(a, owner)
        with pytest.raises(services.ServiceError, match="already locked"):
            services.candidate_approve(candidate=b, user=owner)
        b.refresh_from_db()
        assert b.decision == "pending"

    def test_the_database_allows_one_approved_candidate_per_character(self, character, owner, cast):
        from django.db import IntegrityError

        a, b = cast(character, owner, count=2)
        CastingCandidate.objects.filter(pk=a.pk).update(decision="approved")
        with pytest.raises(IntegrityError):
            CastingCandidate.objects.filter(pk=b.pk).update(decision="approved")

    def test_a_pending_candidate_cannot_be_approved(
        self, character, owner, django_capture_on_commit_callbacks
    ):
        (candidate,) = services.casting_start(character=character, user=owner, count=1)  # never run
        with pytest.raises(services.ServiceError, match="finished portrait"):
            services.candidate_approve(candidate=candidate, user=owner)

    def test_unlocking_needs_a_reason_and_is_recorded(self, character, owner, cast, approve):
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        with pytest.raises(services.ServiceError, match="Say why"):
            services.character_unlock_face(character=character, user=owner, reason="  ")
        services.character_unlock_face(
            character=character, user=owner, reason="Director wants younger"
        )
        character.refresh_from_db()
        a.refresh_from_db()
        assert character.locked_candidate is None and character.stage == "casting"
        assert character.reference_revision == 2
        assert a.decision == "shortlisted"
        assert Activity.objects.get(verb="unlocked face").data["reason"] == "Director wants younger"


@pytest.mark.django_db(transaction=True)
def test_two_people_approving_different_candidates_at_once_lock_exactly_one(
    character, owner, editor, cast
):
    a, b = cast(character, owner, count=2)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(name, candidate, user):
        barrier.wait()
        try:
            services.candidate_approve(candidate=candidate, user=user)
            outcomes[name] = "approved"
        except services.ServiceError as exc:
            outcomes[name] = str(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=("a", a, owner)),
        threading.Thread(target=attempt, args=("b", b, editor)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()).count("approved") == 1
    loser = next(v for v in outcomes.values() if v != "approved")
    assert "already locked" in loser or "same moment" in loser
    assert CastingCandidate.objects.filter(character=character, decision="approved").count() == 1
    character = Character.objects.get(pk=character.pk)
    assert character.locked_candidate_id in (a.pk, b.pk)
    assert character.reference_revision == 1
