"""Panel detection without the preset's geometry: every arrangement of the corpus
(tests/split_corpus.py) is found and named, and doubt is reported rather than hidden."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from characters.imaging import split_sheet
from characters.panels_detect import REVIEW_BELOW, iou, nominal_boxes, reading_order
from tests.split_corpus import FULL_SIX, LIGHT, _panel_sheet, _rows, corpus

SHEETS = {sheet.name: sheet for sheet in corpus()}


@pytest.mark.parametrize("name", sorted(SHEETS))
def test_every_panel_of_the_corpus_is_found_and_named(name):
    sheet = SHEETS[name]
    result = split_sheet(sheet.png(), sheet.preset, previews=False)
    assert result.method == "detected"
    assert set(sheet.truth) == {p.kind for p in result.panels}
    for panel in result.panels:
        assert iou(panel.box, sheet.truth[panel.kind]) >= 0.9, (panel.kind, panel.box)
        assert panel.detected


def test_the_corpus_has_a_dozen_arrangements_and_real_photographs():
    drawn = [s for s in SHEETS.values() if not s.name.startswith("photos-")]
    photos = [s for s in SHEETS.values() if s.name.startswith("photos-")]
    assert len(drawn) >= 12 and len(photos) >= 2
    assert {s.preset for s in drawn} == {"six", "eight"}
    # The photo sheets hold real pictures: thousands of colours, not a drawing's handful.
    crop = photos[0].truth["face_closeup"]
    x, y, w, h = crop
    colours = photos[0].image.crop((x, y, x + w, y + h)).getcolors(maxcolors=1 << 20)
    assert len(colours) > 5000


def test_clear_sheets_are_confident_and_not_flagged():
    for name in ("preset-six", "three-by-two", "shared-background", "photos-grid"):
        sheet = SHEETS[name]
        result = split_sheet(sheet.png(), sheet.preset, previews=False)
        assert not result.review, (name, result.reasons)
        assert all(p.confidence >= REVIEW_BELOW for p in result.panels)


def _blank_figures_sheet():
    """Six equal grey boxes with nothing in them: shape and content cannot tell the kinds."""
    boxes = _rows(
        [["front", "three_quarter", "profile"], ["back", "face_closeup", "mid_closeup"]],
        1200,
        800,
        margin=0.04,
        gutter=0.03,
        weights=(1, 1),
    )
    img = Image.new("RGB", (1200, 800), LIGHT.background)
    d = ImageDraw.Draw(img)
    for x, y, w, h in boxes.values():
        d.rectangle((x, y, x + w - 1, y + h - 1), fill=(120, 130, 140))
    return img, boxes


def test_a_sheet_whose_kinds_cannot_be_told_is_flagged_for_review():
    img, boxes = _blank_figures_sheet()
    sheet_png = _png(img)
    result = split_sheet(sheet_png, "six", previews=False)
    assert result.method == "detected"  # the regions are plain to see...
    assert {p.box for p in result.panels} == set(boxes.values())
    assert result.review  # ...but which is which is not
    assert any("check which is which" in r for r in result.reasons)
    assert min(p.confidence for p in result.panels) < REVIEW_BELOW


def test_a_missing_panel_stands_in_at_its_nominal_box_with_no_confidence():
    sheet = SHEETS["closeups-left"]
    img = sheet.image.copy()
    x, y, w, h = sheet.truth["mid_closeup"]
    ImageDraw.Draw(img).rectangle((x, y, x + w - 1, y + h - 1), fill=(255, 255, 255))
    result = split_sheet(_png(img), "six", previews=False)
    assert result.method == "partial" and result.review
    mid = result.panel("mid_closeup")
    assert not mid.detected and mid.confidence == 0
    assert mid.box == nominal_boxes("six", *img.size)["mid_closeup"]
    assert iou(result.panel("face_closeup").box, sheet.truth["face_closeup"]) >= 0.9
    assert any("mid closeup" in r for r in result.reasons)


def test_reading_order_is_rows_then_left_to_right():
    boxes = [(500, 520, 100, 400), (0, 0, 100, 500), (300, 10, 100, 480), (0, 510, 100, 400)]
    assert reading_order(boxes) == [1, 2, 3, 0]


def test_angles_follow_reading_order_whatever_the_arrangement():
    # Close-ups in the top row, the four full-body views below them: the rows decide.
    boxes = _rows(
        [["face_closeup", "mid_closeup"], FULL_SIX],
        1600,
        1200,
        margin=0.03,
        gutter=0.02,
        weights=(1, 1.6),
    )
    flipped = _panel_sheet("closeups-on-top", "six", (1600, 1200), boxes)
    result = split_sheet(flipped.png(), "six", previews=False)
    for kind, box in boxes.items():
        assert iou(result.panel(kind).box, box) >= 0.9, kind


def test_eight_panel_layouts_name_all_six_angles():
    sheet = SHEETS["eight-two-rows"]
    result = split_sheet(sheet.png(), "eight", previews=False)
    assert [p.kind for p in result.panels][:6] == [
        "front",
        "three_quarter_left",
        "three_quarter_right",
        "profile_left",
        "profile_right",
        "back",
    ]
    for panel in result.panels:
        assert iou(panel.box, sheet.truth[panel.kind]) >= 0.9


def _png(img):
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
