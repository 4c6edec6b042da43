"""The character page as a shell of per-stage fragments: what a change costs the page, and that
a change reaches the page in the answer to its POST rather than through a cascade of re-fetches."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from characters import services
from characters.models import Activity, Role, SheetOption

from .page_events import HTMX, count_with_follow_ups, events, listeners


def url(character, name, *args):
    return reverse(name, args=[character.project.slug, character.slug, *args])


def generate(client, character, count):
    return lambda: client.post(
        url(character, "sheets-generate"), {"count": str(count), "preset": "six"}, headers=HTMX
    )


@pytest.mark.django_db
class TestWhatAChangeCosts:
    # Measured before the shell (every fragment built the whole page's context, and the POST
    # made the head, locked-info and history fetch themselves): 65 queries for four options,
    # of which 34 in three follow-up GETs; a finished card 19, 11 of them re-fetching every card.

    # Options are written in one insert each for generations and options, the role read by
    # the view is not read again by the service, and the page knows a change happened without
    # reading the activity table: 14 for one option or four (goal: under 15). A member's access
    # and the character are then read in one query (13); the repeat guard of a paid POST takes
    # its key in one statement (14).
    @pytest.mark.parametrize("count,limit", [(4, 14), (1, 14)])
    def test_a_sheet_post_repaints_the_page_without_fetching_anything(
        self, owner_client, character, locked_face, settings, count, limit
    ):
        settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
        queries, response, fetched = count_with_follow_ups(
            owner_client, url(character, "character"), generate(owner_client, character, count)
        )
        assert SheetOption.objects.filter(character=character).count() == count
        assert fetched == [] and events(response) == []
        # session + user, access with the character, the service (the locked character with its
        # face and last option number, the rules, one insert each for generations and options,
        # the activity, in a savepoint here), the option cards and their votes, the history.
        assert queries <= limit
        html = response.content.decode()
        assert html.count('class="sheet-card') == count and "generated sheet options" in html

    # More options once some exist: the form in its place and only the new cards, added to the
    # grid out of band: the cards already there are neither read nor sent. 3 statements fewer
    # than repainting the stage, with a finished option among them (options, votes, panels).
    @pytest.mark.parametrize("count", [4, 1])
    def test_more_options_send_only_the_new_cards(
        self, owner_client, character, owner, locked_face, sheets, settings, count
    ):
        settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
        (done,) = sheets(character, owner, count=1)  # finished, with its votes and panels
        before = SheetOption.objects.filter(character=character).count()
        queries, response, fetched = count_with_follow_ups(
            owner_client, url(character, "character"), generate(owner_client, character, count)
        )
        new = list(SheetOption.objects.filter(character=character).order_by("index")[before:])
        assert len(new) == count and fetched == [] and events(response) == []
        html = response.content.decode()
        assert response.headers["HX-Retarget"] == "#sheet-form"
        assert response.headers["HX-Reswap"] == "outerHTML"
        assert html.lstrip().startswith('<form class="cast-form" id="sheet-form"')
        assert '<ul hx-swap-oob="beforeend:#sheet-grid">' in html
        assert [f'id="sheet-{o.pk}"' in html for o in new] == [True] * count
        assert f'id="sheet-{done.pk}"' not in html  # the finished card stays as it is
        assert "generated sheet options" in html  # the history, out of band
        # session + user, access with the character, the repeat guard, the service (the locked
        # character, the rules, one insert each for generations, options and the activity, in
        # a savepoint here: its SAVEPOINT and RELEASE), the history.
        assert queries <= 12

    def test_a_finished_sheet_card_triggers_nothing(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (option,) = sheets(character, owner, count=1)
        queries, response, fetched = count_with_follow_ups(
            owner_client,
            url(character, "character"),
            lambda: owner_client.get(
                url(character, "sheet-option", option.pk) + "?fragment=card&poll=1&seen=running",
                headers=HTMX,
            ),
        )
        assert response.status_code == 200 and f'id="sheet-{option.pk}"' in response.text
        assert "every 2s" not in response.text  # the final card stops the polling
        assert fetched == [] and events(response) == []
        # session + user, access, the status, the character, the option, its votes.
        assert queries <= 8


@pytest.mark.django_db
class TestFragments:
    def test_the_page_listens_for_one_event_only(self, owner_client, character, locked_face):
        html = owner_client.get(url(character, "character")).content.decode()
        heard = listeners(html)
        assert set(heard) == {"character-changed"}
        assert sorted(u.split("fragment=")[1] for u in heard["character-changed"]) == [
            "character-head",
            "history",
            "stage",
        ]

    @pytest.mark.parametrize(
        "fragment,limit",
        [("character-head", 3), ("history", 4), ("brief-form", 3), ("locked-info", 3)],
    )
    def test_a_fragment_is_built_from_its_own_context(
        self, owner_client, character, locked_face, fragment, limit, django_assert_max_num_queries
    ):
        owner_client.get(url(character, "character"))
        # session + user, access with the character; then only what the fragment shows.
        with django_assert_max_num_queries(limit):
            response = owner_client.get(
                url(character, "character") + f"?fragment={fragment}", headers=HTMX
            )
        assert response.status_code == 200 and "hx-swap-oob" not in response.text

    def test_locking_a_sheet_repaints_head_and_face_out_of_band(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (option,) = sheets(character, owner, count=1)
        response = owner_client.post(
            url(character, "sheet-lock", option.pk), {"confirm": "1"}, headers=HTMX
        )
        html = response.content.decode()
        assert 'id="stage-badge">Ready<' in html  # the head, out of band
        assert 'id="locked-info" hx-swap-oob="true"' in html and "Unlock face" not in html
        assert "locked sheet" in html and events(response) == []
        character.refresh_from_db()
        assert character.locked_sheet_id == option.pk

    def test_a_refused_change_sends_no_history(self, owner_client, character, locked_face):
        response = generate(owner_client, character, 0)()
        assert "at least 1" in response.text and "hx-swap-oob" not in response.text

    def test_the_change_check_reads_only_its_own_project(
        self, client, character, owner, member, cast, other_project
    ):
        (candidate,) = cast(character, owner, count=1)
        rita = member(Role.REVIEWER, "rita")
        client.force_login(rita)
        project, other = other_project
        services.character_comment(
            character=other, user=other.project.members.first(), text="from another film"
        )
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(
                url(character, "candidate-vote", candidate.pk), {"value": "up"}, headers=HTMX
            )
        reads = [
            q["sql"]
            for q in ctx.captured_queries
            if q["sql"].startswith("SELECT") and 'FROM "characters_activity"' in q["sql"]
        ]
        assert reads and all(
            f'"characters_activity"."project_id" = {character.project_id}' in sql for sql in reads
        )
        assert "voted" in response.text and 'id="history" ' in response.text
        assert "from another film" not in response.text
        assert Activity.objects.filter(project=project, verb="commented").count() == 1
