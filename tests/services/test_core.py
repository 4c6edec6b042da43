"""services.core: the one function that advances a character's reference revision."""

from __future__ import annotations

import pytest

from characters import services
from characters.models import Character, ReferenceChange, Shot


def _changes(character) -> list[tuple[int, str]]:
    return list(ReferenceChange.objects.filter(character=character).values_list("revision", "kind"))


@pytest.mark.django_db
class TestReferenceRevision:
    def test_it_bumps_the_revision_and_records_why(self, character, owner):
        new = services.character_advance_revision(
            character=character,
            kind="panel_fix",
            user=owner,
            summary="AirPod removed",
            panel_kind="face_closeup",
        )
        character.refresh_from_db()
        assert new == character.reference_revision == 1
        change = ReferenceChange.objects.get(character=character)
        assert (change.revision, change.kind, change.panel_kind, change.actor) == (
            1,
            "panel_fix",
            "face_closeup",
            owner,
        )
        assert change.summary == "AirPod removed"

    def test_every_reference_change_goes_through_it(self, character, owner, ready, sheets):
        # ready = face locked (rev 1) then sheet locked (rev 2); both recorded.
        assert _changes(character) == [(1, "face_locked"), (2, "sheet_locked")]
        panel = ready.panels.get(kind="front")
        services.panel_set_box(
            panel=panel, user=owner, x=panel.x, y=panel.y, w=panel.w - 2, h=panel.h
        )
        services.sheet_unlock(character=character, user=owner, reason="new angle")
        character.refresh_from_db()
        assert _changes(character)[2:] == [(3, "panel_box"), (4, "sheet_unlocked")]
        assert character.reference_revision == 4
        assert _changes(character)[2:] == [(3, "panel_box"), (4, "sheet_unlocked")]
        assert ReferenceChange.objects.get(revision=4).summary == "Sheet unlocked: new angle"

    def test_a_shot_misses_exactly_the_changes_after_its_revision(
        self, character, owner, ready, run_inline
    ):
        shot = run_inline(
            services.shot_create,
            project=character.project,
            user=owner,
            prompt="She turns",
            characters=[character],
        )
        shot = Shot.objects.get(pk=shot.pk)
        assert services.shot_staleness(shot) == []
        services.character_advance_revision(
            character=Character.objects.get(pk=character.pk),
            kind="panel_fix",
            user=owner,
            summary="Face closeup fixed: no AirPod",
        )
        (stale,) = services.shot_staleness(Shot.objects.get(pk=shot.pk))
        assert [c.summary for c in stale["changes"]] == ["Face closeup fixed: no AirPod"]
        assert (stale["from"], stale["to"]) == (2, 3)

    def test_one_reason_per_revision_is_a_database_rule(self, character, owner):
        from django.db import IntegrityError, transaction

        ReferenceChange.objects.create(character=character, revision=5, kind="face_locked")
        with pytest.raises(IntegrityError), transaction.atomic():
            ReferenceChange.objects.create(character=character, revision=5, kind="sheet_locked")
