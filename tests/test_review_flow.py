"""Deciding at a team's pace: approve and lock ask once, conflicts re-render the stage, and the
decisions can be taken from Compare and from an option's page (issue 17)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from characters import services
from characters.models import Activity, Generation

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(character, name, *args):
    return reverse(name, args=[character.project.slug, character.slug, *args])


@pytest.mark.django_db
class TestApproveAsksOnce:
    def test_the_first_press_asks_and_changes_nothing(self, owner_client, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        response = owner_client.post(url(character, "candidate-approve", candidate.pk), **HTMX)
        html = response.content.decode()
        assert f'id="candidate-{candidate.pk}"' in html and "Lock this face?" in html
        assert 'name="confirm" value="1"' in html and "autofocus" in html
        character.refresh_from_db()
        candidate.refresh_from_db()
        assert character.locked_candidate_id is None and candidate.decision == "pending"
        assert not Generation.objects.filter(stage="upscale").exists()

    def test_confirming_locks_the_face_and_starts_the_upscale(
        self, owner_client, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        owner_client.post(
            url(character, "candidate-approve", candidate.pk), {"confirm": "1"}, **HTMX
        )
        character.refresh_from_db()
        assert character.locked_candidate_id == candidate.pk
        assert Generation.objects.filter(stage="upscale", character=character).count() == 1

    def test_without_js_the_question_is_a_page_and_its_answer_locks(
        self, owner_client, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        target = url(character, "candidate-approve", candidate.pk)
        compare = url(character, "compare") + f"?c={candidate.pk}"
        page = owner_client.post(target, {"back": compare}).content.decode()
        assert "Lock this face?" in page and f'href="{compare}"' in page
        character.refresh_from_db()
        assert character.locked_candidate_id is None
        response = owner_client.post(target, {"confirm": "1", "back": compare})
        assert response.status_code == 302
        character.refresh_from_db()
        assert character.locked_candidate_id == candidate.pk

    def test_a_back_link_to_another_site_is_not_followed(
        self, owner_client, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        page = owner_client.post(
            url(character, "candidate-approve", candidate.pk), {"back": "https://evil.example/"}
        ).content.decode()
        assert "evil.example" not in page

    def test_locking_a_sheet_asks_once_too(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (option,) = sheets(character, owner, count=1)
        html = owner_client.post(url(character, "sheet-lock", option.pk), **HTMX).content.decode()
        assert f'id="sheet-{option.pk}"' in html and "Yes, lock this sheet" in html
        character.refresh_from_db()
        assert character.locked_sheet_id is None


@pytest.mark.django_db
class TestConflicts:
    def test_a_second_tab_approving_sees_the_stage_as_it_is_with_the_reason_on_top(
        self, owner_client, character, owner, cast, approve
    ):
        a, b = cast(character, owner, count=2)
        approve(a, owner)  # the other tab, a moment ago
        response = owner_client.post(
            url(character, "candidate-approve", b.pk), {"confirm": "1"}, **HTMX
        )
        html = response.content.decode()
        assert html.lstrip().startswith('<section id="stage"')
        assert "already locked" in html and "Locked face" in html
        assert 'id="stage-badge">Sheet<' in html  # the head, out of band
        assert 'id="history"' in html and "approved face" in html  # news to this tab
        assert html.index('role="alert"') < html.index("Locked face")
        character.refresh_from_db()
        assert character.locked_candidate_id == a.pk
        assert Activity.objects.filter(verb="approved face").count() == 1

    def test_a_second_tab_locking_another_sheet_sees_the_lock(
        self, owner_client, character, owner, locked_face, sheets
    ):
        a, b = sheets(character, owner, count=2)
        services.sheet_lock(option=a, user=owner)
        html = owner_client.post(
            url(character, "sheet-lock", b.pk), {"confirm": "1"}, **HTMX
        ).content.decode()
        assert "locked a moment ago" in html and "Download reference pack" in html
        assert 'id="stage-badge">Ready<' in html and "Unlock face" not in html


@pytest.mark.django_db
class TestDecideFromEverywhere:
    def test_compare_offers_approve_to_an_editor_only(
        self, client, owner_client, character, owner, cast, member
    ):
        a, b = cast(character, owner, count=2)
        compare = url(character, "compare") + f"?c={a.pk}&c={b.pk}"
        html = owner_client.get(compare).content.decode()
        assert html.count("Approve &amp; lock") == 2
        client.force_login(member("reviewer"))
        assert "Approve" not in client.get(compare).content.decode()

    def test_compare_panels_and_the_option_page_offer_lock(
        self, owner_client, character, owner, locked_face, sheets
    ):
        a, b = sheets(character, owner, count=2)
        html = owner_client.get(url(character, "panel-compare")).content.decode()
        assert "Lock option 1" in html and "Lock option 2" in html
        html = owner_client.get(url(character, "sheet-option", a.pk)).content.decode()
        assert "Lock this sheet" in html
        owner_client.post(url(character, "sheet-lock", b.pk), {"confirm": "1"})
        character.refresh_from_db()
        assert character.locked_sheet_id == b.pk
        html = owner_client.get(url(character, "panel-compare")).content.decode()
        assert "Lock option" not in html


@pytest.mark.django_db
class TestCharacters:
    BOARD = reverse("board", args=["lighthouse"])

    def create(self, client, name):
        return client.post(self.BOARD, {"new-name": name, "new-brief": "Someone."})

    @pytest.mark.parametrize(
        "name,slug",
        [("Алёна Петрова", "alena-petrova"), ("王小明", "wangxiaoming"), ("Ζωή", "zoi")],
    )
    def test_names_in_other_scripts_get_readable_slugs(self, owner_client, project, name, slug):
        response = self.create(owner_client, name)
        assert response.status_code == 302 and response["Location"] == f"/p/lighthouse/c/{slug}/"
        assert project.characters.get(slug=slug).name == name

    def test_names_are_unique_per_project_whatever_the_case(
        self, owner_client, project, character, other_project
    ):
        html = self.create(owner_client, "mara QUELL").content.decode()
        assert "already a character called" in html
        assert project.characters.filter(name__iexact="mara quell").count() == 1
        # Another project may have its own Mara Quell.
        other, _ = other_project
        assert not services.character_name_taken(project=other, name="Mara Quell")

    def test_archiving_takes_it_off_the_board_and_restoring_brings_it_back(
        self, owner_client, character
    ):
        archive = url(character, "character-archive")
        response = owner_client.post(archive)
        assert response.status_code == 302 and response["Location"] == self.BOARD
        character.refresh_from_db()
        assert character.archived_at is not None
        html = owner_client.get(self.BOARD).content.decode()
        assert 'class="character-tile' not in html and "Archived (1)" in html
        assert owner_client.get(url(character, "character")).status_code == 200
        owner_client.post(archive, {"restore": "1"})
        character.refresh_from_db()
        assert character.archived_at is None
        assert (
            Activity.objects.filter(verb__in=["archived character", "restored character"]).count()
            == 2
        )

    def test_an_archived_character_makes_nothing_new_until_restored(self, owner_client, character):
        owner_client.post(url(character, "character-archive"))
        response = owner_client.post(url(character, "cast"), {"count": 2}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "is archived, so nothing new is made for them" in response.content.decode()
        assert not Generation.objects.filter(character=character).exists()
        owner_client.post(url(character, "character-archive"), {"restore": "1"})
        owner_client.post(url(character, "cast"), {"count": 2}, HTTP_HX_REQUEST="true")
        assert Generation.objects.filter(character=character).count() == 2

    def test_a_reviewer_cannot_archive(self, client, character, member):
        client.force_login(member("reviewer"))
        assert client.post(url(character, "character-archive")).status_code == 403
        character.refresh_from_db()
        assert character.archived_at is None


@pytest.mark.django_db
class TestHistorySaysWhatChanged:
    def test_a_decision_shows_the_candidate_it_was_about(
        self, owner_client, character, owner, cast
    ):
        _, b = cast(character, owner, count=2)
        owner_client.post(url(character, "candidate-decide", b.pk), {"decision": "shortlist"})
        entry = Activity.objects.get(verb="shortlisted candidate")
        assert entry.data["image"] == b.image_id
        html = owner_client.get(url(character, "character") + "?fragment=history", **HTMX).text
        thumb = reverse("asset", args=["lighthouse", b.image_id, "thumb"])
        assert f'class="history-thumb" src="{thumb}"' in html

    def test_an_edited_brief_shows_before_and_after(self, owner_client, character):
        owner_client.post(
            url(character, "character-brief"),
            {
                "brief": character.brief.replace("short grey hair", "long silver hair"),
                "distinguishing_marks": character.distinguishing_marks,
                "hand_props": character.hand_props,
            },
        )
        entry = Activity.objects.get(verb="edited brief")
        assert list(entry.data["changes"]) == ["brief"]
        html = owner_client.get(url(character, "character") + "?fragment=history", **HTMX).text
        assert "<dt>Brief</dt>" in html
        assert "<del>short grey</del>" in html and "<ins>long silver</ins>" in html


@pytest.mark.django_db
def test_a_revision_caption_labels_the_note_and_the_instruction(
    owner_client, owner, character, ready, run_inline
):
    panel = ready.panels.get(kind="face_closeup")
    note = services.annotation_create(
        panel=panel,
        user=owner,
        body="Earbud in her left ear",
        kind="continuity",
        x=0.6,
        y=0.4,
        w=0.1,
        h=0.1,
    )
    run_inline(services.panel_fix_request, annotation=note, user=owner, instruction="Remove it")
    html = owner_client.get(url(character, "panel", panel.pk)).content.decode()
    assert "<dt>Note</dt><dd>Earbud in her left ear</dd>" in html
    assert "<dt>Instruction</dt><dd>Remove it</dd>" in html
    assert "<dt>Source</dt><dd>as it came off the sheet</dd>" in html and "View large" in html
