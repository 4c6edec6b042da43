"""The board and character pages, plain and through htmx: what they show and what they change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from characters import services
from characters.models import Activity, CastingCandidate, Character, Generation

HTMX = {"HTTP_HX_REQUEST": "true"}


def character_url(character, name="character", *args):
    return reverse(name, args=[character.project.slug, character.slug, *args])


@pytest.mark.django_db
class TestBoard:
    def test_it_lists_characters_with_stage_and_locked_face(
        self, owner_client, character, owner, cast, approve
    ):
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        Character.objects.create(project=character.project, name="Tomas", slug="tomas", brief="x")
        response = owner_client.get(reverse("board", args=["lighthouse"]))
        html = response.content.decode()
        assert "Mara Quell" in html and "Tomas" in html
        assert reverse("asset", args=["lighthouse", a.image_id, "thumb"]) in html
        assert "Sheet" in html and "Casting" in html

    def test_it_needs_a_login(self, client, project):
        response = client.get(reverse("board", args=["lighthouse"]))
        assert response.status_code == 302 and "/login/" in response["Location"]

    def test_another_projects_board_is_404(self, owner_client, other_project):
        assert owner_client.get(reverse("board", args=["another"])).status_code == 404

    def test_it_creates_a_character(self, owner_client, project):
        response = owner_client.post(
            reverse("board", args=["lighthouse"]),
            {"new-name": "Tomas Reyes", "new-brief": "A young fisherman, curly black hair."},
        )
        character = Character.objects.get(project=project, name="Tomas Reyes")
        assert response.status_code == 302 and response["Location"] == character.get_absolute_url()
        assert character.slug == "tomas-reyes"

    def test_an_htmx_create_redirects_the_browser(self, owner_client, project):
        response = owner_client.post(
            reverse("board", args=["lighthouse"]),
            {"new-name": "Ines", "new-brief": "An old woman."},
            **HTMX,
        )
        assert response.status_code == 200
        assert response["HX-Redirect"] == Character.objects.get(name="Ines").get_absolute_url()

    def test_an_empty_brief_is_refused_with_a_message(self, owner_client, project):
        response = owner_client.post(
            reverse("board", args=["lighthouse"]), {"new-name": "Ines", "new-brief": "   "}, **HTMX
        )
        assert response.status_code == 200
        assert "Describe the person" in response.content.decode()
        assert not Character.objects.filter(name="Ines").exists()

    @pytest.mark.parametrize("count", [1, 25])
    def test_its_query_count_does_not_grow_with_characters(
        self, owner_client, project, count, django_assert_max_num_queries
    ):
        for i in range(count):
            Character.objects.create(project=project, name=f"C{i}", slug=f"c{i}", brief="x")
        with django_assert_max_num_queries(9):
            response = owner_client.get(reverse("board", args=["lighthouse"]))
        assert response.content.decode().count('class="character-tile') == count


@pytest.mark.django_db
class TestCharacterPage:
    def test_it_shows_the_brief_form_cast_form_and_grid(self, owner_client, character, owner, cast):
        cast(character, owner, count=2)
        html = owner_client.get(character_url(character)).content.decode()
        assert 'name="brief"' in html and 'name="count"' in html
        assert html.count('class="card ') == 2
        assert "offline preview" in html

    def test_it_is_never_cached_so_back_shows_the_current_state(self, owner_client, character):
        # htmx changes the page in place; a cached copy is the page before those changes.
        response = owner_client.get(character_url(character))
        assert "no-store" in response["Cache-Control"]
        board = owner_client.get(reverse("board", args=["lighthouse"]))
        assert "no-store" in board["Cache-Control"]

    @pytest.mark.parametrize("count", [1, 8])
    def test_its_query_count_does_not_grow_with_candidates(
        self, owner_client, character, owner, cast, count, django_assert_max_num_queries
    ):
        cast(character, owner, count=count)
        with django_assert_max_num_queries(14):
            response = owner_client.get(character_url(character))
        assert response.content.decode().count('class="card ') == count

    def test_saving_the_brief(self, owner_client, character):
        response = owner_client.post(
            character_url(character, "character-brief"),
            {
                "brief": "A new brief",
                "wardrobe": "Oilskin",
                "distinguishing_marks": "",
                "hand_props": "",
            },
            **HTMX,
        )
        assert "Saved." in response.content.decode()
        character.refresh_from_db()
        assert (character.brief, character.wardrobe) == ("A new brief", "Oilskin")
        assert Activity.objects.filter(verb="edited brief").exists()

    def test_an_oversized_brief_is_refused_and_the_old_one_kept(self, owner_client, character):
        response = owner_client.post(
            character_url(character, "character-brief"),
            {"brief": "x" * 4001, "wardrobe": "", "distinguishing_marks": "", "hand_props": ""},
            **HTMX,
        )
        assert response.status_code == 200
        assert "Keep the brief under 4000 characters" in response.content.decode()
        character.refresh_from_db()
        assert character.brief.startswith("A woman")

    def test_casting_through_htmx_returns_pending_cards_that_poll(
        self, owner_client, character, settings, monkeypatch
    ):
        from django_q.conf import Conf

        monkeypatch.setattr(Conf, "SYNC", False)  # leave them queued, as a real worker would
        response = owner_client.post(character_url(character, "cast"), {"count": "3"}, **HTMX)
        html = response.content.decode()
        assert html.count('hx-trigger="every 1s"') == 3
        assert Generation.objects.filter(character=character, status="queued").count() == 3

    @pytest.mark.parametrize(
        "count,message", [("0", "at least 1"), ("50", "at most 8"), ("many", "whole number")]
    )
    def test_a_bad_count_is_refused_with_a_message(self, owner_client, character, count, message):
        response = owner_client.post(character_url(character, "cast"), {"count": count}, **HTMX)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert not Generation.objects.exists()

    def test_a_plain_cast_redirects_back(self, owner_client, character):
        response = owner_client.post(character_url(character, "cast"), {"count": "1"})
        assert response.status_code == 302
        assert CastingCandidate.objects.filter(character=character).count() == 1

    def test_a_polled_card_stops_polling_when_final(self, owner_client, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        response = owner_client.get(
            character_url(character, "candidate", candidate.pk) + "?poll=1", **HTMX
        )
        html = response.content.decode()
        assert "every 1s" not in html
        # The card is all that changed: no event makes the page fetch anything else.
        assert "HX-Trigger" not in response

    def test_shortlisting_through_htmx_returns_the_card(self, owner_client, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        response = owner_client.post(
            character_url(character, "candidate-decide", candidate.pk),
            {"decision": "shortlist"},
            **HTMX,
        )
        assert "Unshortlist" in response.content.decode()
        candidate.refresh_from_db()
        assert candidate.decision == "shortlisted"

    def test_approving_swaps_in_the_locked_face(
        self, owner_client, character, owner, cast, django_capture_on_commit_callbacks
    ):
        (candidate,) = cast(character, owner, count=1)
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(
                character_url(character, "candidate-approve", candidate.pk),
                {"confirm": "1"},
                **HTMX,
            )
        html = response.content.decode()
        assert "Locked face" in html and "Unlock face" in html
        # The head's badge and the history come in the same answer, out of band.
        assert 'id="character-head"' in html and 'id="stage-badge">Sheet<' in html
        assert 'id="history"' in html and "approved face" in html
        assert html.count('hx-swap-oob="true"') == 2 and "HX-Trigger" not in response
        character.refresh_from_db()
        assert character.locked_candidate_id == candidate.pk

    def test_approving_a_candidate_of_another_character_is_404(
        self, owner_client, character, owner, cast, project
    ):
        other = Character.objects.create(project=project, name="Tomas", slug="tomas", brief="x")
        (candidate,) = cast(other, owner, count=1)
        response = owner_client.post(character_url(character, "candidate-approve", candidate.pk))
        assert response.status_code == 404
        candidate.refresh_from_db()
        assert candidate.decision == "pending"

    def test_approving_twice_tells_the_user_plainly(
        self, owner_client, character, owner, cast, approve
    ):
        a, b = cast(character, owner, count=2)
        approve(a, owner)
        response = owner_client.post(
            character_url(character, "candidate-approve", b.pk), {"confirm": "1"}, follow=True
        )
        assert "already locked" in response.content.decode()

    def test_unlock_without_a_reason_is_refused(
        self, owner_client, character, owner, cast, approve
    ):
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        response = owner_client.post(
            character_url(character, "face-unlock"), {"reason": " "}, **HTMX
        )
        assert "Say why" in response.content.decode()
        assert "HX-Trigger" not in response
        character.refresh_from_db()
        assert character.locked_candidate_id == a.pk

    def test_unlock_with_a_reason(self, owner_client, character, owner, cast, approve):
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        response = owner_client.post(
            character_url(character, "face-unlock"), {"reason": "Recast"}, **HTMX
        )
        html = response.content.decode()
        assert "Cast" in html and 'id="stage-badge">Casting<' in html
        assert "unlocked face" in html and html.count('hx-swap-oob="true"') == 2
        character.refresh_from_db()
        assert character.locked_candidate_id is None

    def test_the_stage_badge_and_history_refresh_when_the_face_locks_or_unlocks(
        self, owner_client, character, owner, cast, approve
    ):
        # They sit outside #stage, which approve and unlock swap; they listen for the event
        # every successful change sends.
        html = owner_client.get(character_url(character)).content.decode()
        assert html.count('hx-trigger="character-changed from:body"') >= 2
        (a,) = cast(character, owner, count=1)
        approve(a, owner)
        head = owner_client.get(character_url(character) + "?fragment=character-head", **HTMX)
        assert 'id="stage-badge">Sheet<' in head.content.decode()
        history = owner_client.get(character_url(character) + "?fragment=history", **HTMX)
        assert "approved face" in history.content.decode()

    def test_a_viewer_sees_no_actions_and_cannot_post(self, client, member, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        viewer = member("viewer")
        client.force_login(viewer)
        html = client.get(character_url(character)).content.decode()
        assert "Approve" not in html and 'name="count"' not in html
        assert client.post(character_url(character, "cast"), {"count": "1"}).status_code == 403
        assert (
            client.post(character_url(character, "candidate-approve", candidate.pk)).status_code
            == 403
        )

    def test_compare_shows_the_chosen_candidates_at_full_size(
        self, owner_client, character, owner, cast
    ):
        a, b, c = cast(character, owner, count=3)
        response = owner_client.get(character_url(character, "compare") + f"?c={a.pk}&c={c.pk}")
        html = response.content.decode()
        assert reverse("asset", args=["lighthouse", a.image_id, "original"]) in html
        assert reverse("asset", args=["lighthouse", c.image_id, "original"]) in html
        assert reverse("asset", args=["lighthouse", b.image_id, "original"]) not in html

    def test_failed_cards_show_the_reason_and_a_retry_button(
        self, owner_client, character, owner, cast, monkeypatch
    ):
        from characters.generators import offline
        from characters.generators.base import GeneratorError

        def refuse(self, request):
            raise GeneratorError("Recraft is rate limiting us; try again shortly.", permanent=False)

        monkeypatch.setattr(offline.OfflineGenerator, "_casting", refuse)
        (candidate,) = cast(character, owner, count=1)
        html = owner_client.get(character_url(character)).content.decode()
        assert "Recraft is rate limiting us" in html
        assert reverse("generation-retry", args=["lighthouse", candidate.generation_id]) in html


@pytest.mark.django_db
class TestMedia:
    def test_it_serves_a_members_images_with_long_caching(
        self, owner_client, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        response = owner_client.get(
            reverse("asset", args=["lighthouse", candidate.image_id, "thumb"])
        )
        assert response["Content-Type"] == "image/webp"
        assert "immutable" in response["Cache-Control"]
        assert b"".join(response.streaming_content)[:4] == b"RIFF"

    def test_another_projects_image_is_404(self, client, character, owner, cast, other_project):
        (candidate,) = cast(character, owner, count=1)
        stranger = other_project[0].memberships.get().user
        client.force_login(stranger)
        assert (
            client.get(
                reverse("asset", args=["lighthouse", candidate.image_id, "original"])
            ).status_code
            == 404
        )
        assert (
            client.get(
                reverse("asset", args=["another", candidate.image_id, "original"])
            ).status_code
            == 404
        )


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 8])
def test_a_polled_card_costs_the_same_few_queries_however_many_candidates(
    owner_client, character, owner, cast, count, django_assert_max_num_queries
):
    candidates = cast(character, owner, count=count)
    url = character_url(character, "candidate", candidates[0].pk) + "?poll=1"
    owner_client.get(url, **HTMX)  # warm the session
    # A finished card is rendered once: status check, character, candidate and its votes.
    with django_assert_max_num_queries(7):
        response = owner_client.get(url, **HTMX)
    assert f'id="candidate-{candidates[0].pk}"' in response.content.decode()


@pytest.mark.django_db
def test_a_poll_while_nothing_changed_is_a_204_status_check(
    owner_client, character, monkeypatch, django_assert_max_num_queries
):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # stays queued, as before a worker picks it up
    (candidate,) = services.casting_start(
        character=character, user=character.project.memberships.get().user, count=1
    )
    url = character_url(character, "candidate", candidate.pk)
    owner_client.get(url + "?poll=1&seen=queued", **HTMX)  # warm the session
    with django_assert_max_num_queries(4):
        response = owner_client.get(url + "?poll=1&seen=queued", **HTMX)
    assert response.status_code == 204 and not response.content
    # The card shows "queued" but the generation moved on: the new card is sent.
    Generation.objects.filter(pk=candidate.generation_id).update(status="running")
    response = owner_client.get(url + "?poll=1&seen=queued", **HTMX)
    assert response.status_code == 200 and "seen=running" in response.content.decode()
