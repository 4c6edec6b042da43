"""The sheet stage: options from the locked face, panels split, one lock, box correction."""

from __future__ import annotations

import pytest

from characters import prompts, services
from characters.models import Activity, Character, Generation, Panel, SheetOption
from characters.storage import asset_read


@pytest.mark.django_db
class TestGenerating:
    def test_it_needs_a_locked_face(self, character, owner):
        with pytest.raises(services.ServiceError, match="Lock a face first"):
            services.sheet_generate(character=character, user=owner, count=4)
        assert not SheetOption.objects.exists()

    def test_it_makes_options_with_six_split_panels_each(
        self, character, owner, locked_face, sheets
    ):
        options = sheets(character, owner, count=2)
        assert [o.index for o in options] == [1, 2]
        for option in options:
            assert option.generation.status == Generation.Status.SUCCEEDED
            assert option.status == "ready"
            assert (option.image.width, option.image.height) == (1376, 768)
            assert option.split_method == "detected"
            kinds = list(option.panels.values_list("kind", flat=True))
            assert kinds == [
                "front",
                "three_quarter",
                "profile",
                "back",
                "face_closeup",
                "mid_closeup",
            ]
            assert all(p.preview_id and p.crop_id is None for p in option.panels.all())

    def test_the_locked_4k_face_is_the_reference(self, character, owner, locked_face, sheets):
        (option,) = sheets(character, owner, count=1)
        assert option.generation.reference_ids == [f"asset:{locked_face.image_4k_id}"]
        assert option.source_candidate == locked_face

    def test_the_prompt_keeps_hands_empty_and_close_ups_in(
        self, character, owner, locked_face, sheets
    ):
        character.brief += " She carries a brass lantern everywhere."
        character.save()
        (option,) = sheets(character, owner, count=1)
        prompt = option.generation.prompt.lower()
        assert "lantern" not in prompt and "brass" not in prompt
        assert "face close-up" in prompt and "mid close-up" in prompt
        assert "hands empty" in prompt or "both hands empty" in prompt

    def test_the_eight_angle_preset_makes_eight_panels(self, character, owner, locked_face, sheets):
        (option,) = sheets(character, owner, count=1, preset="eight")
        assert option.panels.count() == 8
        assert option.split_method == "detected"

    @pytest.mark.parametrize("count", [0, 9])
    def test_it_refuses_a_count_outside_one_to_eight(self, character, owner, locked_face, count):
        with pytest.raises(services.ServiceError, match="between 1 and 8"):
            services.sheet_generate(character=character, user=owner, count=count)

    def test_an_unknown_preset_is_refused_plainly(self, character, owner, locked_face):
        with pytest.raises(services.ServiceError, match="six"):
            services.sheet_generate(character=character, user=owner, count=1, preset="nine")


def test_props_never_reach_the_sheet_prompt():
    from characters.layouts import get_preset

    character = Character(
        name="Mara",
        brief="A woman in her 40s. She always carries a brass lantern; short grey hair.",
        wardrobe="Oilskin jacket, umbrella tucked under the arm",
        hand_props="Brass storm lantern, umbrella",
    )
    prompt = prompts.sheet_prompt(character, get_preset("six"), ["no earbuds"]).lower()
    assert "lantern" not in prompt and "umbrella" not in prompt
    assert "short grey hair" in prompt and "no earbuds" in prompt


@pytest.mark.django_db
class TestLocking:
    def test_it_locks_one_option_and_advances_the_revision(
        self, character, owner, locked_face, sheets
    ):
        a, b = sheets(character, owner, count=2)
        services.sheet_lock(option=a, user=owner)
        character.refresh_from_db()
        a.refresh_from_db()
        assert character.locked_sheet == a and character.stage == "ready"
        assert character.reference_revision == 2
        assert a.status == "locked" and a.locked_by == owner and a.locked_at
        assert Activity.objects.filter(verb="locked sheet", actor=owner).exists()
        with pytest.raises(services.ServiceError, match="locked a moment ago"):
            services.sheet_lock(option=b, user=owner)

    def test_the_database_allows_one_locked_sheet_per_character(
        self, character, owner, locked_face, sheets
    ):
        from django.db import IntegrityError

        a, b = sheets(character, owner, count=2)
        SheetOption.objects.filter(pk=a.pk).update(status="locked")
        with pytest.raises(IntegrityError):
            SheetOption.objects.filter(pk=b.pk).update(status="locked")

    def test_regenerating_never_touches_the_locked_option(
        self, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        services.sheet_lock(option=a, user=owner)
        more = sheets(character, owner, count=2)
        a.refresh_from_db()
        assert a.status == "locked" and [o.index for o in more] == [2, 3]

    def test_unlock_needs_a_reason(self, character, owner, locked_face, sheets):
        (a,) = sheets(character, owner, count=1)
        services.sheet_lock(option=a, user=owner)
        with pytest.raises(services.ServiceError, match="Say why"):
            services.sheet_unlock(character=character, user=owner, reason="")
        services.sheet_unlock(character=character, user=owner, reason="Wrong jacket")
        character.refresh_from_db()
        a.refresh_from_db()
        assert character.locked_sheet is None and a.status == "ready"
        assert Activity.objects.get(verb="unlocked sheet").data["reason"] == "Wrong jacket"

    def test_the_face_cannot_be_unlocked_under_a_locked_sheet(
        self, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        services.sheet_lock(option=a, user=owner)
        with pytest.raises(services.ServiceError, match="Unlock the sheet first"):
            services.character_unlock_face(character=character, user=owner, reason="recast")


@pytest.mark.django_db
class TestPanels:
    def test_a_corrected_box_remakes_the_preview_and_drops_the_crop(
        self, character, owner, locked_face, sheets
    ):
        (option,) = sheets(character, owner, count=1)
        panel = option.panels.get(kind="front")
        crop = services.panel_crop(panel=panel)
        old_preview = panel.preview_id
        services.panel_set_box(
            panel=panel, user=owner, x=panel.x + 4, y=panel.y + 4, w=panel.w - 8, h=panel.h - 8
        )
        panel.refresh_from_db()
        assert panel.crop_id is None and panel.preview_id != old_preview and not panel.detected
        new_crop = services.panel_crop(panel=panel)
        assert (new_crop.width, new_crop.height) == (panel.w, panel.h)
        assert new_crop.sha256 != crop.sha256

    @pytest.mark.parametrize("box", [(-1, 0, 100, 100), (0, 0, 10, 100), (1300, 0, 200, 100)])
    def test_a_box_outside_the_sheet_is_refused(self, character, owner, locked_face, sheets, box):
        (option,) = sheets(character, owner, count=1)
        panel = option.panels.get(kind="front")
        with pytest.raises(services.ServiceError):
            services.panel_set_box(panel=panel, user=owner, x=box[0], y=box[1], w=box[2], h=box[3])
        assert Panel.objects.get(pk=panel.pk).x == panel.x

    def test_the_crop_is_cut_once_at_full_resolution(self, character, owner, locked_face, sheets):
        (option,) = sheets(character, owner, count=1)
        panel = option.panels.get(kind="face_closeup")
        crop = services.panel_crop(panel=panel)
        assert (crop.width, crop.height) == (panel.w, panel.h)
        assert services.panel_crop(panel=Panel.objects.get(pk=panel.pk)).pk == crop.pk
        assert asset_read(crop)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_a_new_sheet_is_decoded_once_for_storing_deriving_and_splitting(
    character, owner, locked_face, sheets, monkeypatch
):
    """Every full decode of a sheet-sized picture is counted at Pillow's own load()."""
    from PIL import ImageFile

    loads: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        if self._im is None:  # a real decode, not a no-op on an already loaded image
            loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    (option,) = sheets(character, owner, count=1)
    option.refresh_from_db()
    assert option.status == "ready" and option.panels.count() == 6
    sheet_size = (option.image.width, option.image.height)
    assert loads.count(sheet_size) == 1
