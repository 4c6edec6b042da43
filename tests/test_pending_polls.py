"""Pending cards poll for as long as their provider takes (minutes, for a shot): while nothing
changed, a member's poll is one statement after the session and user, and renders nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.conf import Conf

from characters import services
from characters.models import Generation, Role, SheetOption, Shot

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def stay_queued(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # no worker: generations stay queued


@pytest.fixture
def pending_candidate(character, owner, stay_queued):
    (candidate,) = services.casting_start(character=character, user=owner, count=1)
    return candidate


def _candidate_url(candidate, seen):
    c = candidate.character
    url = reverse("candidate", args=[c.project.slug, c.slug, candidate.pk])
    return f"{url}?poll=1&seen={seen}"


@pytest.mark.django_db
class TestCandidatePoll:
    def test_an_unchanged_poll_is_a_204_from_one_statement_with_no_template(
        self, owner_client, pending_candidate, django_assert_max_num_queries
    ):
        url = _candidate_url(pending_candidate, "queued")
        owner_client.get(url, **HTMX)  # warm the session
        # The session, the user, and the status joined to the membership: nothing more.
        with django_assert_max_num_queries(3):
            response = owner_client.get(url, **HTMX)
        assert response.status_code == 204 and not response.content
        assert response.templates == []

    def test_a_changed_status_sends_the_card(self, owner_client, pending_candidate):
        Generation.objects.filter(pk=pending_candidate.generation_id).update(status="running")
        response = owner_client.get(_candidate_url(pending_candidate, "queued"), **HTMX)
        assert response.status_code == 200
        assert "seen=running" in response.content.decode()

    def test_a_reviewer_polls_as_cheaply(
        self, client, member, pending_candidate, django_assert_max_num_queries
    ):
        client.force_login(member(Role.REVIEWER, "rita"))
        url = _candidate_url(pending_candidate, "queued")
        client.get(url, **HTMX)
        with django_assert_max_num_queries(3):
            assert client.get(url, **HTMX).status_code == 204

    def test_someone_outside_the_project_gets_a_404_not_a_status(
        self, client, make_user, pending_candidate
    ):
        client.force_login(make_user("outsider"))
        assert client.get(_candidate_url(pending_candidate, "queued"), **HTMX).status_code == 404

    def test_the_wrong_character_in_the_address_is_a_404(self, owner_client, pending_candidate):
        url = _candidate_url(pending_candidate, "queued").replace("/c/mara/", "/c/someone/")
        assert owner_client.get(url, **HTMX).status_code == 404

    def test_a_guest_with_a_share_link_still_gets_the_204(self, guest_client, pending_candidate):
        client, _link = guest_client("view")
        response = client.get(_candidate_url(pending_candidate, "queued"), **HTMX)
        assert response.status_code == 204


@pytest.mark.django_db
def test_an_unchanged_sheet_poll_is_a_204_with_no_template(
    owner_client, character, owner, locked_face, stay_queued, django_assert_max_num_queries
):
    (option,) = services.sheet_generate(character=character, user=owner, count=1)
    url = reverse("sheet-option", args=["lighthouse", "mara", option.pk])
    url += "?fragment=card&poll=1&seen=queued"
    owner_client.get(url, **HTMX)
    with django_assert_max_num_queries(3):
        response = owner_client.get(url, **HTMX)
    assert response.status_code == 204 and response.templates == []
    assert SheetOption.objects.get(pk=option.pk).generation.status == "queued"


@pytest.mark.django_db
class TestShotPoll:
    @pytest.fixture
    def pending_shot(self, ready, character, owner, stay_queued):
        shot = services.shot_create(
            project=character.project, user=owner, prompt="She turns", characters=[character]
        )
        return Shot.objects.get(pk=shot.pk)

    def test_a_rendering_shot_polls_with_its_status(self, owner_client, pending_shot):
        response = owner_client.get(reverse("shots", args=["lighthouse"]))
        assert f"/shots/{pending_shot.pk}/?poll=1&amp;seen=queued" in response.content.decode()

    def test_an_unchanged_shot_poll_is_a_204_with_no_template(
        self, owner_client, pending_shot, django_assert_max_num_queries
    ):
        url = reverse("shot", args=["lighthouse", pending_shot.pk]) + "?poll=1&seen=queued"
        owner_client.get(url, **HTMX)
        with django_assert_max_num_queries(3):
            response = owner_client.get(url, **HTMX)
        assert response.status_code == 204 and response.templates == []

    def test_a_finished_shot_sends_its_card_once(self, owner_client, pending_shot):
        Generation.objects.filter(pk=pending_shot.generation_id).update(
            status="failed", error="Seedance refused the shot."
        )
        url = reverse("shot", args=["lighthouse", pending_shot.pk]) + "?poll=1&seen=queued"
        response = owner_client.get(url, **HTMX)
        body = response.content.decode()
        assert response.status_code == 200 and "Seedance refused the shot." in body
        assert "hx-trigger" not in body.split(f'id="shot-{pending_shot.pk}"')[1].split(">")[0]

    def test_a_guest_poll_of_a_rendering_shot_is_a_204(self, guest_client, pending_shot):
        client, _link = guest_client("view")
        url = reverse("shot", args=["lighthouse", pending_shot.pk]) + "?poll=1&seen=queued"
        assert client.get(url, **HTMX).status_code == 204
