"""Continuity: annotate, inspect, fix at the source, and shots that inherit the fix."""

from __future__ import annotations

import pytest

from characters import services
from characters.generators.offline import read_record
from characters.models import Activity, Annotation, Character, Generation, PanelRevision, Shot
from characters.permissions import Denied
from characters.storage import asset_read


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
        services.annotation_set_status(annotation=note, user=reviewer, resolved=True)
        assert Annotation.objects.get(pk=note.pk).status == "resolved"
        services.annotation_set_status(annotation=note, user=reviewer, resolved=False)
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
