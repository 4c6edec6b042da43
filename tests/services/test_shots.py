"""services.shots: shots from the locked references, the revision each was made from, settings;
notes on a shot at a moment, with a box and the frame as a still."""

from __future__ import annotations

import pytest

from characters import services
from characters.access import Access
from characters.models import Activity, Character, Shot, ShotNote
from characters.permissions import Denied
from tests.shot_notes import note_on, png


@pytest.mark.django_db
class TestShots:
    def test_a_shot_needs_ready_characters_and_valid_settings(self, character, owner, locked_face):
        with pytest.raises(services.ServiceError, match="Lock a sheet first"):
            services.shot_create(
                project=character.project, user=owner, prompt="x", characters=[character]
            )
        with pytest.raises(services.ServiceError, match="Describe the shot"):
            services.shot_create(
                project=character.project, user=owner, prompt=" ", characters=[character]
            )
        assert not Shot.objects.exists()

    def test_it_records_the_revision_of_each_character(self, character, owner, ready, run_inline):
        shot = run_inline(
            services.shot_create,
            project=character.project,
            user=owner,
            prompt="x",
            characters=[character],
            duration=6,
            ratio="9:16",
        )
        row = shot.cast.get()
        assert row.reference_revision == Character.objects.get(pk=character.pk).reference_revision
        shot.refresh_from_db()
        assert shot.video.mime == "image/webp"  # the offline preview is an animated WebP
        assert shot.video.width < shot.video.height  # 9:16
        assert shot.generation.parameters["revisions"] == {
            str(character.pk): row.reference_revision
        }

    @pytest.mark.parametrize(
        "kwargs,message",
        [
            ({"duration": 3}, "4 to 15"),
            ({"ratio": "2:1"}, "ratio"),
            ({"resolution": "8k"}, "resolution"),
        ],
    )
    def test_bad_settings_are_refused(self, character, owner, ready, kwargs, message):
        with pytest.raises(services.ServiceError, match=message):
            services.shot_create(
                project=character.project, user=owner, prompt="x", characters=[character], **kwargs
            )


# --- shot notes: a moment, a box, the frame as a still ---------------------------------------


@pytest.mark.django_db
class TestShotNotes:
    def test_a_note_keeps_its_moment_its_box_and_the_frame_as_a_still(self, rendered_shot, owner):
        shot = rendered_shot
        note = note_on(shot, owner)
        note.refresh_from_db()
        assert note.timecode == 2.4 and (note.x, note.y, note.w, note.h) == (0.55, 0.2, 0.1, 0.15)
        assert note.render == shot.renders.get() and note.status == "open"
        assert note.still.mime == "image/png" and (note.still.width, note.still.height) == (64, 36)
        assert Activity.objects.filter(verb="noted shot", target_id=note.pk).exists()

    def test_a_note_without_a_box_is_fine_but_a_bad_box_or_moment_is_refused(
        self, rendered_shot, owner
    ):
        shot = rendered_shot
        plain = note_on(shot, owner, box=None, still=None)
        assert not plain.has_box and plain.still is None
        with pytest.raises(services.ServiceError, match="inside the frame"):
            note_on(shot, owner, box=(0.9, 0.1, 0.2, 0.1))
        with pytest.raises(services.ServiceError, match="moment"):
            note_on(shot, owner, timecode=None)
        assert ShotNote.objects.count() == 1

    def test_a_damaged_still_is_refused_in_words_and_nothing_is_kept(self, rendered_shot, owner):
        shot = rendered_shot
        with pytest.raises(services.ServiceError, match="frame still could not be kept"):
            note_on(shot, owner, still=png()[:60])
        assert not ShotNote.objects.exists()

    def test_replies_thread_and_the_note_resolves_and_reopens(self, rendered_shot, owner, member):
        shot = rendered_shot
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
        self, rendered_shot, member, share_link
    ):
        shot = rendered_shot
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
