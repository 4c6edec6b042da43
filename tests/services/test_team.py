"""Team review: votes and their tallies, approvals that record them, comments and mentions,
notifications, the activity feed, the live change check, and the owner's settings page."""

from __future__ import annotations

from functools import partial

import pytest
from django.urls import reverse

from characters import services
from characters.models import Activity, Membership, Notification, Role, ShareLink, Vote
from tests.concurrency import at_once

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db
class TestVotes:
    def test_a_vote_is_set_changed_and_withdrawn(self, character, owner, cast, member):
        (candidate,) = cast(character, owner, count=1)
        reviewer = member(Role.REVIEWER)
        services.vote_cast(user=reviewer, candidate=candidate, value=1)
        assert Vote.objects.get(user=reviewer).value == 1
        services.vote_cast(user=reviewer, candidate=candidate, value=-1)
        assert Vote.objects.get(user=reviewer).value == -1
        assert services.vote_cast(user=reviewer, candidate=candidate, value=0) is None
        assert not Vote.objects.exists()
        verbs = list(Activity.objects.filter(actor=reviewer).values_list("verb", flat=True))
        assert sorted(verbs) == sorted(
            ["voted on candidate", "changed vote on candidate", "withdrew vote on candidate"]
        )

    def test_the_same_vote_twice_is_a_double_click_not_a_toggle(
        self, client, character, owner, cast, member
    ):
        (candidate,) = cast(character, owner, count=1)
        client.force_login(member(Role.REVIEWER, "rita"))
        url = reverse("candidate-vote", args=["lighthouse", "mara", candidate.pk])
        html = client.post(url, {"value": "up"}, **HTMX).content.decode()
        client.post(url, {"value": "up"}, **HTMX)  # the second click of a double click
        assert Vote.objects.get(user__username="rita").value == 1
        assert Activity.objects.filter(verb="voted on candidate").count() == 1
        # The card now offers to withdraw it, and that is what its button asks.
        assert 'value="withdraw"' in html
        client.post(url, {"value": "withdraw"}, **HTMX)
        client.post(url, {"value": "withdraw"}, **HTMX)
        assert not Vote.objects.exists()

    def test_a_viewer_cannot_vote(self, character, owner, cast, member):
        (candidate,) = cast(character, owner, count=1)
        with pytest.raises(services.Denied):
            services.vote_cast(user=member(Role.VIEWER), candidate=candidate, value=1)
        assert not Vote.objects.exists()

    def test_the_card_shows_the_tally_and_who_voted(self, client, character, owner, cast, member):
        (candidate,) = cast(character, owner, count=1)
        services.vote_cast(user=owner, candidate=candidate, value=1)
        client.force_login(member(Role.REVIEWER, "rita"))
        url = reverse("candidate-vote", args=["lighthouse", "mara", candidate.pk])
        html = client.post(url, {"value": "down"}, **HTMX).content.decode()
        assert "▲ 1 · ▼ 1" in html and "olive" in html and "rita" in html
        assert Vote.objects.get(user__username="rita").value == -1

    def test_approval_and_lock_record_the_tally(
        self, character, owner, cast, approve, sheets, member
    ):
        (candidate,) = cast(character, owner, count=1)
        services.vote_cast(user=member(Role.REVIEWER, "rita"), candidate=candidate, value=1)
        services.vote_cast(user=owner, candidate=candidate, value=-1)
        approve(candidate, owner)
        tally = Activity.objects.get(verb="approved face").data["tally"]
        assert tally == {"up": 1, "down": 1, "up_by": ["rita"], "down_by": ["olive"]}
        character.refresh_from_db()
        (option,) = sheets(character, owner, count=1)
        services.vote_cast(user=owner, sheet=option, value=1)
        services.sheet_lock(option=option, user=owner)
        assert Activity.objects.get(verb="locked sheet").data["tally"]["up_by"] == ["olive"]

    def test_the_history_shows_the_tally_at_approval(
        self, owner_client, character, owner, cast, approve
    ):
        (candidate,) = cast(character, owner, count=1)
        services.vote_cast(user=owner, candidate=candidate, value=1)
        approve(candidate, owner)
        html = owner_client.get(reverse("character", args=["lighthouse", "mara"])).content
        assert "votes then: ▲ 1 · ▼ 0; up: olive" in html.decode()


@pytest.mark.django_db
class TestCommentsAndMentions:
    def test_a_mention_notifies_the_member_once(self, character, owner, member, make_user):
        rita = member(Role.REVIEWER, "rita")
        outsider = make_user("otto")
        activity = services.character_comment(
            character=character, user=owner, text="@rita @otto look at the scar, @rita. @olive"
        )
        assert list(Notification.objects.values_list("user", flat=True)) == [rita.pk]
        assert activity.data["text"].startswith("@rita")
        assert not Notification.objects.filter(user=outsider).exists()

    def test_the_header_counts_unread_and_the_list_marks_read(
        self, client, character, owner, member
    ):
        rita = member(Role.REVIEWER, "rita")
        services.character_comment(character=character, user=owner, text="@rita what do you think?")
        client.force_login(rita)
        html = client.get(reverse("board", args=["lighthouse"])).content.decode()
        assert 'Notifications <span class="badge">1</span>' in html
        html = client.get(reverse("notifications")).content.decode()
        assert "what do you think?" in html and "new" in html
        assert not Notification.objects.filter(read_at__isnull=True).exists()

    def test_a_guest_comments_under_their_name(self, guest_client, character):
        client, _ = guest_client("comment", name="Nadia")
        url = reverse("character-comment", args=["lighthouse", "mara"])
        response = client.post(url, {"text": "The scar is on the wrong side"}, **HTMX)
        assert response.status_code == 200 and "HX-Trigger" not in response
        html = response.content.decode()  # the history, out of band, with the comment in it
        assert 'hx-swap-oob="true"' in html and "The scar is on the wrong side" in html
        activity = Activity.objects.get(verb="commented")
        assert activity.actor is None and activity.actor_name == "Nadia (guest)"

    def test_an_empty_comment_is_refused_with_a_message(self, owner_client, character):
        url = reverse("character-comment", args=["lighthouse", "mara"])
        html = owner_client.post(url, {"text": "  "}, **HTMX).content.decode()
        assert "Write something" in html and not Activity.objects.filter(verb="commented")


@pytest.mark.django_db
class TestActivityFeed:
    def test_it_filters_by_character_and_person_and_paginates(
        self, owner_client, character, owner, member, other_project
    ):
        rita = member(Role.REVIEWER, "rita")
        for i in range(35):
            services.character_comment(character=character, user=rita, text=f"note {i}")
        services.character_comment(character=character, user=owner, text="owner note")
        url = reverse("activity", args=["lighthouse"])
        html = owner_client.get(url, {"person": "rita"}).content.decode()
        assert "note 34" in html and "owner note" not in html and "Page 1 of 2" in html
        html = owner_client.get(url, {"person": "rita", "page": 2}).content.decode()
        assert "note 0" in html and "note 34" not in html
        html = owner_client.get(url, {"character": "mara", "person": "olive"}).content.decode()
        assert "owner note" in html and "Another Film" not in html


@pytest.mark.django_db
class TestLiveUpdates:
    def test_it_answers_204_until_someone_else_changes_something(
        self, client, character, owner, member, django_assert_max_num_queries
    ):
        rita = member(Role.REVIEWER, "rita")
        services.character_comment(character=character, user=owner, text="first")
        since = Activity.objects.latest("id").pk
        client.force_login(rita)
        url = reverse("character-changes", args=["lighthouse", "mara"])
        client.get(url, {"since": since})  # warm the session
        # session + user, then the project with the role, then the character's newest ids.
        with django_assert_max_num_queries(4):
            response = client.get(url, {"since": since}, **HTMX)
        assert response.status_code == 204
        services.character_comment(character=character, user=owner, text="second")
        response = client.get(url, {"since": since}, **HTMX)
        assert response.status_code == 200
        assert "character-changed" in response["HX-Trigger"]
        assert f"since={Activity.objects.latest('id').pk}" in response.content.decode()

    def test_ones_own_change_moves_the_cursor_without_a_refresh(
        self, owner_client, character, owner
    ):
        services.character_comment(character=character, user=owner, text="mine")
        url = reverse("character-changes", args=["lighthouse", "mara"])
        response = owner_client.get(url, {"since": 0}, **HTMX)
        assert response.status_code == 200 and "HX-Trigger" not in response

    def test_the_character_page_polls_for_changes(self, owner_client, character):
        html = owner_client.get(reverse("character", args=["lighthouse", "mara"])).content
        assert b'hx-trigger="every 3s"' in html and b"/changes?since=" in html


@pytest.mark.django_db
class TestSettingsPage:
    def test_only_an_owner_sees_it(self, client, member, project):
        client.force_login(member(Role.EDITOR))
        assert client.get(reverse("project-settings", args=["lighthouse"])).status_code == 403

    def test_it_adds_changes_and_removes_members(self, owner_client, make_user, project):
        make_user("rita")
        owner_client.post(
            reverse("member-add", args=["lighthouse"]), {"username": "rita", "role": "reviewer"}
        )
        membership = Membership.objects.get(user__username="rita")
        assert membership.role == "reviewer"
        owner_client.post(
            reverse("member-change", args=["lighthouse", membership.pk]), {"role": "editor"}
        )
        membership.refresh_from_db()
        assert membership.role == "editor"
        owner_client.post(
            reverse("member-change", args=["lighthouse", membership.pk]), {"remove": "1"}
        )
        assert not Membership.objects.filter(user__username="rita").exists()

    def test_the_last_owner_cannot_leave(self, owner_client, owner, project):
        membership = Membership.objects.get(user=owner)
        owner_client.post(
            reverse("member-change", args=["lighthouse", membership.pk]), {"remove": "1"}
        )
        assert Membership.objects.filter(user=owner, role="owner").exists()

    def test_it_shows_a_new_link_once(self, owner_client, project):
        url = reverse("share-link-create", args=["lighthouse"])
        response = owner_client.post(
            url, {"permission": "comment", "expires_in_days": 7, "password": "pw-123456"}
        )
        html = response.content.decode()
        link = ShareLink.objects.get()
        assert "shown only once" in html and link.password.startswith("md5$")
        token = html.split("/s/")[1].split('"')[0]
        assert services.share_token_hash(token) == link.token_hash
        assert (
            token
            not in owner_client.get(
                reverse("project-settings", args=["lighthouse"])
            ).content.decode()
        )

    def test_it_revokes_links_and_sets_the_budget(self, owner_client, share_link, project):
        link, _ = share_link("view")
        owner_client.post(reverse("share-link-revoke", args=["lighthouse", link.pk]))
        link.refresh_from_db()
        assert link.revoked_at is not None
        owner_client.post(reverse("project-budget", args=["lighthouse"]), {"budget_usd": "12.50"})
        project.refresh_from_db()
        assert str(project.budget_usd) == "12.50"

    def test_it_shows_routing_and_spend_never_keys(self, owner_client, settings, project):
        settings.GEMINI_API_KEY = "sk-very-secret-key"
        html = owner_client.get(reverse("project-settings", args=["lighthouse"])).content.decode()
        assert "Routing" in html and "gemini" in html and "sk-very-secret-key" not in html
        assert "Spend by character" in html


@pytest.mark.django_db(transaction=True)
class TestRaces:
    """Real threads on real connections (PostgreSQL in `make test-scale`, SQLite otherwise)."""

    def test_two_owners_demoting_each_other_at_once_leave_an_owner(self, project, owner, member):
        other = member(Role.OWNER, "otto")
        for trial in range(10):
            mine = Membership.objects.get(project=project, user=owner)
            theirs = Membership.objects.get(project=project, user=other)
            outcomes = at_once(
                partial(services.membership_set_role, membership=theirs, user=owner, role="editor"),
                partial(services.membership_set_role, membership=mine, user=other, role="editor"),
            )
            owners = Membership.objects.filter(project=project, role=Role.OWNER).count()
            assert owners == 1, (trial, outcomes)
            refused = [o for o in outcomes if isinstance(o, Exception)]
            assert len(refused) == 1, outcomes
            assert isinstance(refused[0], services.ServiceError | services.Denied), refused
            Membership.objects.filter(project=project).update(role=Role.OWNER)

    def test_two_owners_removing_each_other_at_once_leave_an_owner(self, project, owner, member):
        for trial in range(10):
            other = member(Role.OWNER, f"otto{trial}")
            mine = Membership.objects.get(project=project, user=owner)
            theirs = Membership.objects.get(project=project, user=other)
            outcomes = at_once(
                partial(services.membership_remove, membership=theirs, user=owner),
                partial(services.membership_remove, membership=mine, user=other),
            )
            assert Membership.objects.filter(project=project, role=Role.OWNER).exists(), (
                trial,
                outcomes,
            )
            if not Membership.objects.filter(project=project, user=owner).exists():
                Membership.objects.create(project=project, user=owner, role=Role.OWNER)

    def test_eight_votes_at_once_by_one_person_never_fail(self, character, owner, cast, member):
        (candidate,) = cast(character, owner, count=1)
        reviewer = member(Role.REVIEWER, "rita")
        for trial in range(3):
            outcomes = at_once(
                *[
                    lambda: services.vote_cast(user=reviewer, candidate=candidate, value=1)
                    for _ in range(8)
                ]
            )
            errors = [o for o in outcomes if isinstance(o, Exception)]
            assert not errors, (trial, errors)
            # Eight times the same vote: one vote, cast once.
            assert Vote.objects.get(user=reviewer, candidate=candidate).value == 1
            assert all(o is not None and o.value == 1 for o in outcomes)
