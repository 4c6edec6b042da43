"""Continuity: annotate, inspect, fix at the source, and shots that inherit the fix."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from characters import services
from characters.generators.gemini import GeminiGenerator
from characters.generators.offline import read_record
from characters.models import (
    Activity,
    Annotation,
    Character,
    Generation,
    Panel,
    PanelRevision,
    Shot,
)
from characters.permissions import Denied
from characters.services.continuity import inspect_request
from characters.storage import asset_read
from tests.shot_notes import note_on


@pytest.mark.django_db
class TestAnnotations:
    def test_a_box_is_stored_relative_to_the_panel_with_its_revision(self, character, owner, ready):
        panel = ready.panels.get(kind="face_closeup")
        note = services.annotation_create(
            panel=panel, user=owner, body="Earbud!", x=0.7, y=0.4, w=0.1, h=0.15, kind="continuity"
        )
        note.refresh_from_db()
        assert (note.x, note.y, note.w, note.h) == (0.7, 0.4, 0.1, 0.15)
        assert note.revision == panel.current_revision and note.status == "open"
        assert Activity.objects.filter(verb="flagged continuity error").exists()

    @pytest.mark.parametrize(
        "box,message",
        [
            ((0.9, 0.1, 0.2, 0.1), "inside the panel"),
            ((-0.1, 0, 0.2, 0.2), "inside the panel"),
            ((0.1, 0.1, 0, 0.1), "no size"),
        ],
    )
    def test_a_bad_region_is_refused(self, character, owner, ready, box, message):
        panel = ready.panels.get(kind="front")
        with pytest.raises(services.ServiceError, match=message):
            services.annotation_create(
                panel=panel, user=owner, body="x", x=box[0], y=box[1], w=box[2], h=box[3]
            )
        assert not Annotation.objects.exists()

    def test_replies_thread_and_it_resolves_and_reopens(self, character, owner, ready, member):
        reviewer = member("reviewer")
        panel = ready.panels.get(kind="front")
        note = services.annotation_create(
            panel=panel, user=reviewer, body="Collar?", x=0.1, y=0.1, w=0.2, h=0.2
        )
        reply = services.annotation_reply(parent=note, user=owner, body="Fine as is")
        nested = services.annotation_reply(parent=reply, user=reviewer, body="OK")
        assert reply.parent == note and nested.parent == note
        with pytest.raises(Denied):  # resolving is an editor's decision (docs/security.md)
            services.annotation_set_status(annotation=note, user=reviewer, resolved=True)
        services.annotation_set_status(annotation=note, user=owner, resolved=True)
        assert Annotation.objects.get(pk=note.pk).status == "resolved"
        services.annotation_set_status(annotation=note, user=owner, resolved=False)
        assert Annotation.objects.get(pk=note.pk).status == "reopened"

    def test_a_viewer_cannot_annotate(self, character, owner, ready, member):
        panel = ready.panels.get(kind="front")
        with pytest.raises(Denied):
            services.annotation_create(
                panel=panel, user=member("viewer"), body="x", x=0.1, y=0.1, w=0.1, h=0.1
            )

    def test_rules_reach_every_later_prompt(self, character, owner, ready, sheets, run_inline):
        services.rule_create(character=character, user=owner, text="no earbuds")
        with pytest.raises(services.ServiceError, match="already"):
            services.rule_create(character=character, user=owner, text="No earbuds")
        services.sheet_unlock(character=character, user=owner, reason="more options")
        (option,) = sheets(character, owner, count=1)
        assert "no earbuds" in option.generation.prompt
        services.sheet_lock(option=option, user=owner)
        character.refresh_from_db()
        shot = run_inline(
            services.shot_create,
            project=character.project,
            user=owner,
            prompt="She walks in",
            characters=[character],
        )
        assert "no earbuds" in Shot.objects.get(pk=shot.pk).generation.prompt
        # The offline sheet honours the rule: no AirPod drawn anywhere.
        assert not [
            i for i in option.generation.response_metadata["items"] if i["name"] == "airpod"
        ]


@pytest.mark.django_db
class TestTheLoop:
    def test_inspection_finds_the_airpod_in_the_right_panels(
        self, character, owner, ready, run_inline
    ):
        generation = run_inline(
            services.inspect_start,
            character=character,
            user=owner,
            description="She wears an AirPod in shot 12",
        )
        generation.refresh_from_db()
        assert generation.status == "succeeded"
        found = Annotation.objects.filter(found_by_inspection=True)
        kinds = set(found.values_list("panel__kind", flat=True))
        assert "face_closeup" in kinds and "back" not in kinds
        assert found and all(a.kind == "continuity" and "airpod" in a.body.lower() for a in found)

    def test_inspection_of_something_absent_finds_nothing_and_says_so(
        self, character, owner, ready, run_inline
    ):
        generation = run_inline(
            services.inspect_start,
            character=character,
            user=owner,
            description="He wears glasses in shot 3",
        )
        generation.refresh_from_db()
        assert generation.status == "succeeded"
        assert not Annotation.objects.exists()
        assert "No glasses" in generation.response_metadata["text"]

    def test_fix_revision_recompose_stale_rerender(self, character, owner, ready, run_inline):
        shot = run_inline(
            services.shot_create,
            project=character.project,
            user=owner,
            prompt="Close on her face",
            characters=[character],
        )
        shot.refresh_from_db()
        first_render = shot.generation
        assert first_render.status == "succeeded" and shot.video is not None
        assert services.shot_staleness(shot) == []

        run_inline(
            services.inspect_start,
            character=character,
            user=owner,
            description="AirPod visible in shot 1",
        )
        flagged = Annotation.objects.get(found_by_inspection=True, panel__kind="face_closeup")
        panel = flagged.panel
        old_sheet = Character.objects.get(pk=character.pk).locked_sheet.image
        revision_before = Character.objects.get(pk=character.pk).reference_revision

        fix = run_inline(
            services.panel_fix_request,
            annotation=flagged,
            user=owner,
            instruction="Remove the AirPod",
        )
        fix.refresh_from_db()
        assert fix.status == "succeeded", fix.error
        panel.refresh_from_db()
        flagged.refresh_from_db()
        character.refresh_from_db()
        assert [r.number for r in panel.revisions.all()] == [1, 2]
        assert panel.current_revision.number == 2 and flagged.status == "resolved"
        assert flagged.resolved_by_revision == panel.current_revision
        assert character.reference_revision == revision_before + 1
        new_sheet = character.locked_sheet.image
        assert new_sheet.pk != old_sheet.pk and (new_sheet.width, new_sheet.height) == (
            old_sheet.width,
            old_sheet.height,
        )
        # The fixed panel carries no AirPod any more, and its picture says so to the inspector.
        assert asset_read(panel.crop) == asset_read(panel.current_revision.image)
        recorded = read_record(asset_read(panel.crop))["panels"]
        assert not [i for i in recorded.get("face_closeup", []) if i["name"] == "airpod"]

        shot = Shot.objects.get(pk=shot.pk)
        (stale,) = services.shot_staleness(shot)
        assert stale["character"] == character and stale["to"] == character.reference_revision
        assert [c.kind for c in stale["changes"]] == ["panel_fix"]

        renders = run_inline(services.shots_rerender_stale, project=character.project, user=owner)
        assert len(renders) == 1
        shot = Shot.objects.get(pk=shot.pk)
        assert services.shot_staleness(shot) == []
        assert shot.generation != first_render and shot.generation.status == "succeeded"
        assert shot.renders.count() == 2  # the earlier render is kept

    def test_revert_is_a_new_recorded_revision(self, character, owner, ready, run_inline):
        run_inline(
            services.inspect_start, character=character, user=owner, description="AirPod in shot 4"
        )
        flagged = Annotation.objects.filter(
            found_by_inspection=True, panel__kind="face_closeup"
        ).get()
        run_inline(services.panel_fix_request, annotation=flagged, user=owner)
        panel = flagged.panel
        panel.refresh_from_db()
        first = PanelRevision.objects.get(panel=panel, number=1)
        new = services.panel_revert(panel=panel, revision=first, user=owner)
        panel.refresh_from_db()
        assert new.number == 3 and new.reverted_from == first and panel.current_revision == new
        assert asset_read(panel.crop) == asset_read(first.image)
        assert Activity.objects.filter(verb="reverted panel").exists()
        with pytest.raises(services.ServiceError, match="already at"):
            services.panel_revert(panel=panel, revision=new, user=owner)

    def test_only_open_continuity_errors_on_the_locked_sheet_can_be_fixed(
        self, character, owner, ready, run_inline
    ):
        panel = ready.panels.get(kind="front")
        note = services.annotation_create(
            panel=panel, user=owner, body="nice", x=0.1, y=0.1, w=0.1, h=0.1
        )
        with pytest.raises(services.ServiceError, match="Only a continuity error"):
            services.panel_fix_request(annotation=note, user=owner)
        assert not Generation.objects.filter(stage="edit").exists()

    def test_a_reviewer_can_flag_but_not_fix(self, character, owner, ready, member):
        reviewer = member("reviewer")
        panel = ready.panels.get(kind="front")
        error = services.annotation_create(
            panel=panel, user=reviewer, body="AirPod", x=0.1, y=0.1, w=0.1, h=0.1, kind="continuity"
        )
        with pytest.raises(Denied):
            services.panel_fix_request(annotation=error, user=reviewer)


# --- from a shot note: trace, fix everywhere, dismiss, an honest revert --------------------


@pytest.mark.django_db
class TestTraceAndFix:
    def test_trace_sends_the_note_its_box_and_the_frame_and_flags_the_panels(
        self, rendered_shot, owner, character, run_inline
    ):
        shot = rendered_shot
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
        self, rendered_shot, owner, run_inline
    ):
        shot = rendered_shot
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
        self, rendered_shot, owner, character, run_inline
    ):
        shot = rendered_shot
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
        self, rendered_shot, owner, character, django_capture_on_commit_callbacks
    ):
        shot = rendered_shot
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
        self, rendered_shot, owner, run_inline
    ):
        shot = rendered_shot
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
        self, rendered_shot, owner, run_inline
    ):
        shot = rendered_shot
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


@pytest.mark.django_db
def test_a_batch_edit_the_worker_gave_up_on_still_lets_the_rest_land(
    rendered_shot, owner, character, run_inline, settings
):
    shot = rendered_shot
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
