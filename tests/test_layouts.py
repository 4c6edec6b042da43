"""Layout presets: the data every sheet step reads instead of assuming six panels."""

import pytest

from characters.layouts import DEFAULT_PRESET, PRESETS, UnknownPreset, get_preset, spec_for_kind


def _overlap(a, b):
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return ix > 1e-9 and iy > 1e-9


def test_the_default_is_six_panels_in_order():
    preset = get_preset()
    assert preset.name == DEFAULT_PRESET == "six"
    assert preset.kinds == (
        "front",
        "three_quarter",
        "profile",
        "back",
        "face_closeup",
        "mid_closeup",
    )


def test_eight_adds_left_and_right_views():
    preset = get_preset("eight")
    assert preset.kinds == (
        "front",
        "three_quarter_left",
        "three_quarter_right",
        "profile_left",
        "profile_right",
        "back",
        "face_closeup",
        "mid_closeup",
    )
    assert preset.panel("profile_left").angle == -preset.panel("profile_right").angle == 90


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_boxes_sit_inside_the_sheet_without_overlapping(name):
    preset = PRESETS[name]
    assert len(set(preset.kinds)) == len(preset.kinds)
    for spec in preset.panels:
        x, y, w, h = spec.box
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9
        assert spec.label
    for i, a in enumerate(preset.panels):
        for b in preset.panels[i + 1 :]:
            assert not _overlap(a.box, b.box), (a.kind, b.kind)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_full_body_panels_are_tall_and_close_ups_are_stacked(name):
    preset = PRESETS[name]
    full = [s for s in preset.panels if s.framing == "full"]
    assert {s.angle for s in full} >= {0, 180}
    # On a 16:9 sheet a full-body panel must be taller than wide, in pixels.
    for spec in full:
        assert spec.box[3] * 9 > spec.box[2] * 16
    face, mid = preset.panel("face_closeup"), preset.panel("mid_closeup")
    assert face.box[0] == mid.box[0] and face.box[1] < mid.box[1]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_description_names_the_layout(name):
    text = PRESETS[name].description.lower()
    assert "16:9" in text and "gutters" in text and "hands empty" in text
    assert f"{name} panels" in text  # the preset's name is its panel count in words


def test_names_are_forgiving_about_case_and_space():
    assert get_preset(" Eight ").name == "eight"
    assert get_preset("").name == "six"


def test_an_unknown_preset_says_which_ones_exist():
    with pytest.raises(UnknownPreset) as exc:
        get_preset("nine")
    assert "'nine'" in str(exc.value)
    assert "eight, six" in str(exc.value)


def test_a_kind_is_found_in_whichever_preset_has_it():
    assert spec_for_kind("profile_right").angle == -90
    assert spec_for_kind("front", "eight").framing == "full"
    with pytest.raises(KeyError):
        spec_for_kind("profile_right", "six")
    with pytest.raises(KeyError):
        spec_for_kind("left_elbow")
