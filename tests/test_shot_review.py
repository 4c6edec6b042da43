"""The continuity loop as a team runs it: a note on a shot at a moment (with a box and the frame
as a still), traced to the locked sheet, fixed everywhere at once, dismissed with a reason, and
a revert that reopens what it undid. Plus the prop filter and the offline inspector's words."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image

from characters import prompts, services
from characters.access import Access
from characters.generators.base import GenerationRequest, InspectSpec, ReferenceImage
from characters.generators.gemini import GeminiGenerator
from characters.generators.offline_portrait import encode_png, read_record
from characters.generators.offline_sheet import accessory_names, make_inspection
from characters.layouts import get_preset
from characters.models import (
    Activity,
    Annotation,
    Character,
    Generation,
    Panel,
    Project,
    Shot,
    ShotNote,
)
from characters.permissions import Denied
from characters.services.continuity import inspect_request
from characters.storage import asset_read
from characters.views.shots import changes_token, parse_timecode


def png(width: int = 64, height: int = 36, colour=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def shot(character, owner, ready, run_inline) -> Shot:
    made = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="Close on her face as she turns",
        characters=[character],
    )
    made.refresh_from_db()
    assert made.generation.status == "succeeded"
    return made


def note_on(shot, user, body="She wears an AirPod in her left ear", **extra) -> ShotNote:
    fields = {"timecode": 2.4, "box": (0.55, 0.2, 0.1, 0.15), "still": png()}
    fields.update(extra)
    return services.shot_note_create(shot=shot, user=user, body=body, **fields)


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


@pytest.mark.django_db
class TestShotNotes:
    def test_a_note_keeps_its_moment_its_box_and_the_frame_as_a_still(self, shot, owner):
        note = note_on(shot, owner)
        note.refresh_from_db()
        assert note.timecode == 2.4 and (note.x, note.y, note.w, note.h) == (0.55, 0.2, 0.1, 0.15)
        assert note.render == shot.renders.get() and note.status == "open"
        assert note.still.mime == "image/png" and (note.still.width, note.still.height) == (64, 36)
        assert Activity.objects.filter(verb="noted shot", target_id=note.pk).exists()

    def test_a_note_without_a_box_is_fine_but_a_bad_box_or_moment_is_refused(self, shot, owner):
        plain = note_on(shot, owner, box=None, still=None)
        assert not plain.has_box and plain.still is None
        with pytest.raises(services.ServiceError, match="inside the frame"):
            note_on(shot, owner, box=(0.9, 0.1, 0.2, 0.1))
        with pytest.raises(services.ServiceError, match="moment"):
            note_on(shot, owner, timecode=None)
        assert ShotNote.objects.count() == 1

    def test_a_damaged_still_is_refused_in_words_and_nothing_is_kept(self, shot, owner):
        with pytest.raises(services.ServiceError, match="frame still could not be kept"):
            note_on(shot, owner, still=png()[:60])
        assert not ShotNote.objects.exists()

    def test_replies_thread_and_the_note_resolves_and_reopens(self, shot, owner, member):
        reviewer = member("reviewer")
        note = note_on(shot, reviewer)
        reply = services.shot_note_reply(parent=note, user=owner, body="Seen, tracing it")
        nested = services.shot_note_reply(parent=reply, user=reviewer, body="Thanks")
        assert reply.parent == note and nested.parent == note
        with pytest.raises(Denied):  # resolving is a decision, as on the sheet
            services.shot_note_set_status(note=note, user=reviewer, resolved=True)
        with pytest.raises(Denied):  # tracing pays for an inspection
            services.shot_note_trace(note=note, user=reviewer)
        services.shot_note_set_status(note=note, user=owner, resolved=True)
        note.refresh_from_db()
        assert note.status == "resolved"
        services.shot_note_set_status(note=note, user=owner, resolved=False)
        note.refresh_from_db()
        assert note.status == "reopened"

    def test_a_viewer_may_not_note_but_a_guest_with_a_comment_link_may(
        self, shot, member, share_link
    ):
        with pytest.raises(Denied):
            note_on(shot, member("viewer"))
        comment_link, _ = share_link("comment")
        guest = Access.of_guest(project=shot.project, link=comment_link, guest_name="Dana")
        note = services.shot_note_create(
            shot=shot, access=guest, body="Earbud at the turn", timecode=1.0
        )
        assert note.guest_name == "Dana" and note.author is None
        activity = Activity.objects.get(verb="noted shot")
        assert activity.actor is None and activity.actor_name == "Dana (guest)"
        view_link, _ = share_link("view")
        viewer = Access.of_guest(project=shot.project, link=view_link, guest_name="V")
        with pytest.raises(Denied):
            services.shot_note_create(shot=shot, access=viewer, body="x", timecode=1.0)


# --- trace, fix everywhere, dismiss, revert ---------------------------------------------------------


@pytest.mark.django_db
class TestTraceAndFix:
    def test_trace_sends_the_note_its_box_and_the_frame_and_flags_the_panels(
        self, shot, owner, character, run_inline
    ):
        note = note_on(shot, owner)
        inspection = run_inline(services.shot_note_trace, note=note, user=owner)
        inspection.refresh_from_db()
        note.refresh_from_db()
        assert note.inspection == inspection and inspection.status == "succeeded"
        request = inspect_request(inspection)
        assert request.references[-1].label == "shot frame"
        assert request.references[-1].data[:8] == b"\x89PNG\r\n\x1a\n"
        assert request.spec.box == (0.55, 0.2, 0.1, 0.15)
        assert request.spec.note == note.body and request.spec.timecode == 2.4
        assert request.spec.frame == "shot frame"
        assert request.spec.required_marks == "Thin scar on the left cheek."
        found = Annotation.objects.filter(inspection=inspection)
        kinds = set(found.values_list("panel__kind", flat=True))
        assert "face_closeup" in kinds and "back" not in kinds
        # The brief's scar is never flagged, however the note reads.
        assert not found.filter(body__icontains="scar").exists()
        assert all(f"shot {shot.number}" in a.body for a in found)

    def test_gemini_gets_the_frame_labelled_with_the_box_and_what_the_brief_requires(
        self, shot, owner, run_inline
    ):
        note = note_on(shot, owner)
        inspection = run_inline(services.shot_note_trace, note=note, user=owner)
        body = GeminiGenerator(api_key="test-key", base_url="http://127.0.0.1:9").inspect_body(
            inspect_request(inspection)
        )
        texts = [p["text"] for p in body["contents"][0]["parts"] if "text" in p]
        assert "Thin scar on the left cheek." in texts[0] and note.body in texts[0]
        frame = next(t for t in texts if t.startswith("Frame from the shot"))
        assert "2.4 s" in frame and "0.550, 0.200, 0.100, 0.150" in frame
        assert body["contents"][0]["parts"][-1]["inlineData"]["mimeType"] == "image/png"

    def test_fix_everywhere_is_one_edit_per_panel_one_sheet_and_one_revision(
        self, shot, owner, character, run_inline
    ):
        inspection = run_inline(services.shot_note_trace, note=note_on(shot, owner), user=owner)
        found = list(Annotation.objects.filter(inspection=inspection))
        panels = {a.panel_id for a in found}
        assert len(panels) >= 2
        before = Character.objects.select_related("locked_sheet").get(pk=character.pk)
        sheet_before = before.locked_sheet.image_id
        batch = run_inline(services.inspection_fix_everywhere, inspection=inspection, user=owner)
        edits = Generation.objects.filter(stage="edit", parameters__batch=batch.pk)
        assert edits.count() == len(panels)
        assert all(e.status == "succeeded" for e in edits)
        after = Character.objects.get(pk=character.pk)
        batch.refresh_from_db()
        assert after.reference_revision == before.reference_revision + 1
        assert batch.applied_at is not None and batch.reference_revision == after.reference_revision
        assert after.locked_sheet.image_id != sheet_before
        assert Activity.objects.filter(verb="fixed panels").count() == 1
        for panel in Panel.objects.filter(pk__in=panels):
            assert panel.current_revision.number == 2
        assert {a.status for a in Annotation.objects.filter(inspection=inspection)} == {"resolved"}
        for panel in Panel.objects.filter(pk__in=panels).select_related("crop"):
            recorded = read_record(asset_read(panel.crop))["panels"]
            assert not [i for i in recorded.get(panel.kind, []) if i["name"] == "airpod"]
        # The shot made before the fix is stale, and says which fix it is missing.
        (stale,) = services.shot_staleness(Shot.objects.get(pk=shot.pk))
        assert [c.kind for c in stale["changes"]] == ["panel_fix"]
        assert stale["changes"][0].summary.startswith("Fixed everywhere (")

    def test_a_failed_edit_leaves_its_finding_open_and_the_rest_land_together(
        self, shot, owner, character, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            inspection = services.shot_note_trace(note=note_on(shot, owner), user=owner)
        found = list(Annotation.objects.filter(inspection=inspection).order_by("panel__order"))
        broken = found[0].panel
        before = Character.objects.get(pk=character.pk).reference_revision
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.inspection_fix_everywhere(inspection=inspection, user=owner)
            # A panel the offline editor cannot draw: its edit fails for real.
            Panel.objects.filter(pk=broken.pk).update(kind="unknown_angle")
        failed = Generation.objects.get(parameters__batch=batch.pk, parameters__panel=broken.pk)
        assert failed.status == "failed" and "cannot draw" in failed.error
        batch.refresh_from_db()
        assert batch.applied_at is not None
        assert Character.objects.get(pk=character.pk).reference_revision == before + 1
        assert Annotation.objects.get(pk=found[0].pk).status == "open"
        assert Annotation.objects.get(pk=found[-1].pk).status == "resolved"

    def test_dismiss_needs_a_reason_and_closes_every_finding_in_one_action(
        self, shot, owner, run_inline
    ):
        inspection = run_inline(services.shot_note_trace, note=note_on(shot, owner), user=owner)
        with pytest.raises(services.ServiceError, match="Say why"):
            services.inspection_dismiss(inspection=inspection, user=owner, reason=" ")
        dismissed = services.inspection_dismiss(
            inspection=inspection, user=owner, reason="It is her hearing aid, by design"
        )
        assert dismissed and {
            a.status for a in Annotation.objects.filter(inspection=inspection)
        } == {"dismissed"}
        entry = Activity.objects.get(verb="dismissed inspection")
        assert entry.data["reason"] == "It is her hearing aid, by design"
        assert entry.data["count"] == len(dismissed)
        with pytest.raises(services.ServiceError, match="Nothing this inspection flagged"):
            services.inspection_fix_everywhere(inspection=inspection, user=owner)

    def test_reverting_a_fix_reopens_what_it_resolved_and_the_shot_note(
        self, shot, owner, run_inline
    ):
        note = note_on(shot, owner)
        inspection = run_inline(services.shot_note_trace, note=note, user=owner)
        run_inline(services.inspection_fix_everywhere, inspection=inspection, user=owner)
        services.shot_note_set_status(note=note, user=owner, resolved=True)
        flagged = Annotation.objects.filter(inspection=inspection, panel__kind="face_closeup").get()
        panel = flagged.panel
        assert flagged.status == "resolved" and flagged.resolved_by_revision.number == 2
        services.panel_revert(panel=panel, revision=panel.revisions.get(number=1), user=owner)
        flagged.refresh_from_db()
        note.refresh_from_db()
        assert flagged.status == "reopened" and flagged.resolved_by_revision is None
        assert note.status == "reopened"
        reopened = Activity.objects.get(verb="reopened annotation", target_id=flagged.pk)
        assert "Revision 2 was reverted" in reopened.data["text"]
        assert Activity.objects.filter(verb="reopened shot note", target_id=note.pk).exists()
        # The other panels' fixes stand: their findings stay resolved.
        others = Annotation.objects.filter(inspection=inspection).exclude(pk=flagged.pk)
        assert others and {a.status for a in others} == {"resolved"}


# --- the README's example, offline, from the demo project ----------------------------------------


@pytest.mark.django_db
def test_the_demo_character_tells_the_airpod_story(cast, approve, sheets, run_inline):
    call_command("demo", stdout=io.StringIO())
    mara = Character.objects.get(project__slug="demo", slug="mara")
    admin = mara.project.members.get(username="admin")
    assert "AirPod in her left ear" in mara.wardrobe
    (candidate,) = cast(mara, admin, count=1)
    approve(candidate, admin)
    mara.refresh_from_db()
    (option,) = sheets(mara, admin, count=1)
    services.sheet_lock(option=option, user=admin)
    mara.refresh_from_db()
    inspection = run_inline(
        services.inspect_start,
        character=mara,
        user=admin,
        description="she wears an AirPod in shot 12",
    )
    inspection.refresh_from_db()
    assert inspection.response_metadata["found"], inspection.response_metadata.get("text")
    assert not Annotation.objects.filter(body__icontains="scar").exists()


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
def test_a_batch_edit_the_worker_gave_up_on_still_lets_the_rest_land(
    shot, owner, character, run_inline, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from characters import tasks

    inspection = run_inline(services.shot_note_trace, note=note_on(shot, owner), user=owner)
    before = Character.objects.get(pk=character.pk).reference_revision
    batch = services.inspection_fix_everywhere(inspection=inspection, user=owner)  # not run yet
    edits = list(Generation.objects.filter(parameters__batch=batch.pk).order_by("pk"))
    for edit in edits[1:]:
        assert tasks.run_generation(edit.pk) == "succeeded"
    batch.refresh_from_db()
    assert batch.applied_at is None  # still waiting for the first edit
    Generation.objects.filter(pk=edits[0].pk).update(
        status="running",
        attempts=settings.TURNAROUND_MAX_ATTEMPTS,
        deadline_at=timezone.now() - timedelta(minutes=1),
    )
    tasks.requeue_stuck_generations()
    batch.refresh_from_db()
    assert Generation.objects.get(pk=edits[0].pk).status == "failed"
    assert batch.applied_at is not None
    assert Character.objects.get(pk=character.pk).reference_revision == before + 1


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
