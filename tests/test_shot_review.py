"""The pieces of the continuity loop outside the services (those are in tests/services/): the
prop filter, the offline inspector's words and what the brief requires, and the shot pages —
notes posted with their still, guests, the change check, the sheet form's prompt preview."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from characters import prompts
from characters.generators.base import GenerationRequest, InspectSpec, ReferenceImage
from characters.generators.offline_portrait import encode_png
from characters.generators.offline_sheet import accessory_names, make_inspection
from characters.layouts import get_preset
from characters.models import (
    Character,
    Project,
    Shot,
    ShotNote,
)
from characters.views.shots import changes_token, parse_timecode
from tests.shot_notes import note_on, png


@pytest.fixture
def shot(rendered_shot) -> Shot:
    return rendered_shot


# --- the prop filter ---------------------------------------------------------------------------


class TestPropFilter:
    def test_a_brief_with_a_prop_keeps_the_round_glasses(self):
        brief = "Dark brown skin, short black beard, round glasses, holding a coffee cup"
        kept, removed = prompts.split_props(brief, ["coffee cup"])
        assert kept == "Dark brown skin, short black beard, round glasses"
        assert removed == ["holding a coffee cup"]

    @pytest.mark.django_db
    def test_the_sheet_prompt_keeps_every_other_detail_and_lists_what_it_removed(self, project):
        character = Character.objects.create(
            project=project,
            name="Abe",
            slug="abe",
            brief="Dark brown skin, short black beard, round glasses, holding a coffee cup.",
            wardrobe="Corduroy jacket with a coffee-coloured scarf.",
            hand_props="coffee cup",
        )
        prompt = prompts.sheet_prompt(character, get_preset("six"), [])
        for detail in ("Dark brown skin", "short black beard", "round glasses", "coffee-coloured"):
            assert detail in prompt
        assert "cup" not in prompt
        assert prompts.removed_props(character) == ["holding a coffee cup"]

    def test_a_prop_in_the_middle_of_a_list_goes_alone(self):
        kept, removed = prompts.split_props(
            "A tall man with a walking stick and a grey coat. He smiles.", ["walking stick"]
        )
        assert kept == "A tall man and a grey coat. He smiles."
        assert removed == ["a walking stick"]


# --- the offline inspector -----------------------------------------------------------------------


class TestOfflineInspector:
    @pytest.mark.parametrize(
        "note",
        [
            "she has an earbud in",
            "headphones on in shot 3",
            "Air Pods visible",
            "a white AirPod",
            "in-ear earphones",
        ],
    )
    def test_it_knows_the_words_for_an_airpod(self, note):
        assert accessory_names(note) == ["airpod"]

    def request(self, note: str, marks: str = "", listed: str = "") -> GenerationRequest:
        """Two panel pictures that record what was drawn on them, as offline pictures do."""
        drawn = {
            "face_closeup": [
                {"name": "airpod", "box": [0.7, 0.4, 0.1, 0.1]},
                {"name": "scar", "box": [0.3, 0.5, 0.05, 0.1]},
            ],
            "front": [{"name": "scar", "box": [0.45, 0.1, 0.02, 0.03]}],
        }
        references = tuple(
            ReferenceImage(
                encode_png(Image.new("RGB", (40, 60)), {"panels": {kind: items}}),
                "image/png",
                kind,
            )
            for kind, items in drawn.items()
        )
        return GenerationRequest(
            stage="inspect",
            prompt=note,
            references=references,
            spec=InspectSpec(
                panels=tuple(drawn), note=note, required_marks=marks, required_listed=listed
            ),
        )

    def test_it_never_flags_a_distinguishing_mark_the_brief_requires(self):
        _, answer = make_inspection(
            self.request("The AirPod next to her scar in shot 12", marks="Scar on the left cheek.")
        )
        findings = answer["data"]["findings"]
        assert [f["panel"] for f in findings] == ["face_closeup"]
        assert all("AirPod" in f["reason"] for f in findings)
        _, answer = make_inspection(
            self.request("Her scar is missing in shot 12", marks="Scar on the left cheek.")
        )
        assert answer["data"]["findings"] == []
        assert "brief requires it: scar" in answer["text"]

    def test_what_the_wardrobe_lists_is_flagged_only_when_the_note_names_nothing_else(self):
        listed = "Navy jumper, an AirPod in the left ear, a duelling scar."
        _, answer = make_inspection(self.request("An AirPod in shot 4", listed=listed))
        assert [f["panel"] for f in answer["data"]["findings"]] == ["face_closeup"]
        assert "wardrobe lists it" in answer["data"]["findings"][0]["reason"]


# --- shot notes ----------------------------------------------------------------------------------


# --- the pages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestShotPages:
    def test_timecodes_read_as_a_reviewer_writes_them(self):
        assert parse_timecode("00:02.4") == pytest.approx(2.4)
        assert parse_timecode("2.4") == pytest.approx(2.4)
        assert parse_timecode("1:02:03.5") == pytest.approx(3723.5)
        assert parse_timecode("soon") is None

    def test_a_note_posted_from_the_page_keeps_its_still(self, shot, owner_client):
        url = f"/p/{shot.project.slug}/shots/{shot.pk}/notes"
        response = owner_client.post(
            url,
            {
                "body": "AirPod at the turn",
                "at": "00:02.4",
                "x": "0.5",
                "y": "0.2",
                "w": "0.1",
                "h": "0.1",
                "still": SimpleUploadedFile("frame.png", png(), content_type="image/png"),
            },
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200 and b"AirPod at the turn" in response.content
        note = ShotNote.objects.get()
        assert note.timecode == pytest.approx(2.4) and note.still is not None
        assert "shots-changed" in response.headers["HX-Trigger"]

    def test_a_bad_still_from_the_page_says_why_and_keeps_the_draft(self, shot, owner_client):
        response = owner_client.post(
            f"/p/{shot.project.slug}/shots/{shot.pk}/notes",
            {
                "body": "AirPod at the turn",
                "at": "00:02.4",
                "still": SimpleUploadedFile(
                    "frame.png", b"not a picture", content_type="image/png"
                ),
            },
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200
        assert b"frame still could not be kept" in response.content
        assert b"AirPod at the turn" in response.content and not ShotNote.objects.exists()

    def test_the_shot_page_plays_every_render_and_lists_the_notes(
        self, shot, owner, owner_client, django_assert_max_num_queries
    ):
        note_on(shot, owner)
        with django_assert_max_num_queries(40):
            response = owner_client.get(f"/p/{shot.project.slug}/shots/{shot.pk}/")
        body = response.content.decode()
        assert response.status_code == 200
        assert 'id="player-media"' in body and "00:02.4" in body
        assert "Trace to source" in body and "player.js" in body and "annotate.js" in body

    def test_the_change_check_answers_204_until_something_happens(self, shot, owner, client):
        client.force_login(owner)
        project = Project.objects.get(pk=shot.project_id)
        token = changes_token(project)
        url = f"/p/{project.slug}/shots/changes?since={token}"
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
        note_on(shot, owner)
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code == 200 and "shots-changed" in response.headers["HX-Trigger"]
        assert changes_token(project) != token


@pytest.mark.django_db
@pytest.mark.parametrize("permission", ["view", "comment"])
def test_guests_see_the_shot_and_a_comment_link_may_note_it(shot, share_link, permission):
    from django.test import Client

    _link, token = share_link(permission)
    guest = Client()
    guest.post(f"/s/{token}", {"name": "Dana"})
    page = guest.get(f"/p/{shot.project.slug}/shots/{shot.pk}/")
    assert page.status_code == 200 and b'id="player-media"' in page.content
    assert (b'id="annotation-form"' in page.content) == (permission == "comment")
    posted = guest.post(
        f"/p/{shot.project.slug}/shots/{shot.pk}/notes",
        {"body": "Earbud at the turn", "at": "00:01.0"},
    )
    assert posted.status_code == (302 if permission == "comment" else 403)
    notes = list(ShotNote.objects.all())
    assert [n.guest_name for n in notes] == (["Dana"] if permission == "comment" else [])


@pytest.mark.django_db
def test_the_sheet_form_shows_the_prompt_and_what_the_prop_filter_removed(
    character, locked_face, owner_client
):
    character.brief = "Dark brown skin, short black beard, round glasses, holding a coffee cup."
    character.hand_props = "coffee cup"
    character.save()
    page = owner_client.get(character.get_absolute_url()).content.decode()
    kept = "Dark brown skin, short black beard, round glasses."
    assert "The prompt that will be sent" in page and kept not in page  # built on demand
    body = owner_client.get(
        character.get_absolute_url() + "?fragment=sheet-preview", headers={"HX-Request": "true"}
    ).content.decode()
    assert kept in body
    assert "<q>holding a coffee cup</q>" in body


@pytest.mark.django_db
def test_the_change_check_costs_a_few_queries(shot, owner, client, django_assert_max_num_queries):
    client.force_login(owner)
    token = changes_token(shot.project)
    with django_assert_max_num_queries(4):
        response = client.get(
            f"/p/{shot.project.slug}/shots/changes?since={token}", headers={"HX-Request": "true"}
        )
    assert response.status_code == 204
