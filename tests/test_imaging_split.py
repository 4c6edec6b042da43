"""Sheet -> panels: detection on sheets made here, the nominal fallback, previews, crop and
recompose. Sheets are photo-like (noise and gradients), not the offline generator's flat
colour, and use smaller sizes where size does not matter."""

import io
import random

import pytest
from PIL import Image, ImageChops

from characters.imaging import (
    PANEL_PREVIEW_SIDE,
    ImageRejected,
    crop_panel,
    make_panel_preview,
    recompose_sheet,
    split_sheet,
)
from characters.layouts import UnknownPreset, get_preset
from characters.panels_detect import nominal_boxes

BG = (236, 236, 234)


def _photo(w, h, seed):
    """Noisy gradients: a panel that does not compress like flat colour."""
    # Seeded noise: Image.effect_noise draws from C's rand() and would differ run to run.
    rng = random.Random(seed)
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h)).point(lambda v: 88 + v * 80 // 255)
    grad = Image.linear_gradient("L").resize((w, h))
    return Image.merge(
        "RGB",
        (
            ImageChops.add(noise, grad, scale=2.0, offset=seed * 7),
            ImageChops.add(noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grad, scale=2.3),
            ImageChops.add(noise, grad.rotate(180), scale=2.6),
        ),
    )


def _png(img, fmt="PNG"):
    buf = io.BytesIO()
    img.save(buf, fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
    return buf.getvalue()


def _sheet(size, boxes, *, bg=BG, skip=()):
    sheet = Image.new("RGB", size, bg)
    for i, (kind, (x, y, w, h)) in enumerate(boxes.items()):
        if kind not in skip:
            sheet.paste(_photo(w, h, i), (x, y))
    return sheet


def _layout(preset, width, height, *, margin, gutter, jitter=0, seed=0):
    """The preset's arrangement rebuilt with other margins and gutters, panels a little uneven:
    full-body panels in a row, close-ups stacked in the last column."""
    rng = random.Random(seed)
    specs = get_preset(preset).panels
    full = [s for s in specs if s.framing == "full"]
    split = specs[len(full)].box[0]  # where the close-up column starts, as the preset has it
    mx, my, g = round(margin * width), round(margin * height), round(gutter * width)
    col_w = (round(split * width) - mx - g * len(full)) // len(full)
    boxes, x = {}, mx
    for spec in full:
        w = col_w + rng.randint(-jitter, jitter)
        top = my + rng.randint(0, jitter)
        boxes[spec.kind] = (x, top, w, height - my - top - rng.randint(0, jitter))
        x += w + g
    right = width - mx - x
    half = (height - 2 * my - g) // 2
    boxes["face_closeup"] = (x, my, right, half)
    boxes["mid_closeup"] = (x, my + half + g, right - rng.randint(0, jitter), half)
    return boxes


@pytest.mark.parametrize(
    ("preset", "size", "margin", "gutter", "jitter"),
    [
        ("six", (1920, 1080), 0.02, 0.012, 0),
        ("six", (1920, 1080), 0.05, 0.004, 6),  # wide margins, thin gutters, uneven panels
        ("six", (2400, 1340), 0.0, 0.03, 10),  # no margin at all, wide gutters
        ("eight", (2400, 1340), 0.035, 0.008, 8),
    ],
)
def test_it_finds_the_panels_drawn(preset, size, margin, gutter, jitter):
    drawn = _layout(preset, *size, margin=margin, gutter=gutter, jitter=jitter, seed=len(preset))
    if margin == 0:
        # With no margin the sheet's edge is panel, so give the background a border to read.
        sheet = Image.new("RGB", (size[0] + 8, size[1] + 8), BG)
        sheet.paste(_sheet(size, drawn), (4, 4))
        drawn = {k: (x + 4, y + 4, w, h) for k, (x, y, w, h) in drawn.items()}
    else:
        sheet = _sheet(size, drawn)
    result = split_sheet(_png(sheet), preset, previews=False)
    assert result.method == "detected"
    assert [p.kind for p in result.panels] == list(get_preset(preset).kinds)
    for panel in result.panels:
        assert panel.detected
        assert panel.box == drawn[panel.kind], panel.kind


def test_it_reads_a_jpeg_sheet_to_within_a_few_pixels():
    # JPEG ringing bleeds a few pixels of not-quite-background past each panel edge.
    drawn = _layout("six", 1600, 900, margin=0.03, gutter=0.01)
    result = split_sheet(_png(_sheet((1600, 900), drawn), "JPEG"), "six", previews=False)
    assert result.method == "detected"
    for panel in result.panels:
        assert all(abs(a - b) <= 5 for a, b in zip(panel.box, drawn[panel.kind], strict=True))


def test_a_sheet_with_no_gutters_falls_back_to_the_nominal_layout():
    # Panels edge to edge, no margin: nothing on the image says where one ends.
    boxes = {"all": (0, 0, 1600, 900)}
    result = split_sheet(_png(_sheet((1600, 900), boxes)), "six", previews=False)
    assert result.method == "nominal"
    nominal = nominal_boxes("six", 1600, 900)
    for panel in result.panels:
        assert not panel.detected
        assert panel.box == nominal[panel.kind]


def test_a_missing_panel_falls_back_alone():
    drawn = _layout("six", 1600, 900, margin=0.04, gutter=0.015)
    sheet = _sheet((1600, 900), drawn, skip={"mid_closeup"})
    result = split_sheet(_png(sheet), "six", previews=False)
    assert result.method == "partial"
    assert not result.panel("mid_closeup").detected
    assert result.panel("mid_closeup").box == nominal_boxes("six", 1600, 900)["mid_closeup"]
    for kind in ("front", "three_quarter", "profile", "back", "face_closeup"):
        assert result.panel(kind).detected
        assert result.panel(kind).box == drawn[kind]


def test_a_blank_image_is_all_nominal():
    result = split_sheet(_png(Image.new("RGB", (800, 450), BG)), "eight", previews=False)
    assert result.method == "nominal"
    assert len(result.panels) == 8
    assert not any(p.detected for p in result.panels)


def test_previews_are_512px_webp_of_each_panel():
    drawn = _layout("six", 2200, 1240, margin=0.02, gutter=0.012)
    sheet = _sheet((2200, 1240), drawn, skip={"back"})
    result = split_sheet(_png(sheet), "six")
    for panel in result.panels:
        preview = Image.open(io.BytesIO(panel.preview))
        assert preview.format == "WEBP"
        assert max(preview.size) == PANEL_PREVIEW_SIDE
        assert abs(preview.width / preview.height - panel.w / panel.h) < 0.02
    # The preview shows its own panel: the blank back panel previews as background.
    back = Image.open(io.BytesIO(result.panel("back").preview)).convert("RGB")
    assert back.getextrema()[0][0] > 200
    front = Image.open(io.BytesIO(result.panel("front").preview)).convert("RGB")
    assert front.getextrema()[0][0] < 120


def test_a_corrected_box_gets_its_own_preview():
    sheet = _png(_sheet((1600, 900), _layout("six", 1600, 900, margin=0.02, gutter=0.01)))
    preview = Image.open(io.BytesIO(make_panel_preview(sheet, (100, 50, 600, 300))))
    assert preview.format == "WEBP"
    assert preview.size == (512, 256)


def test_crop_and_recompose_round_trip():
    drawn = _layout("six", 1600, 900, margin=0.02, gutter=0.01)
    sheet_img = _sheet((1600, 900), drawn)
    sheet = _png(sheet_img)
    box = drawn["profile"]
    crop = Image.open(io.BytesIO(crop_panel(sheet, box)))
    assert crop.format == "PNG"
    assert crop.size == box[2:]
    x, y, w, h = box
    assert (
        ImageChops.difference(crop.convert("RGB"), sheet_img.crop((x, y, x + w, y + h))).getbbox()
        is None
    )

    # Pasting the crop back changes nothing.
    same = Image.open(io.BytesIO(recompose_sheet(sheet, box, _png(crop)).data))
    assert ImageChops.difference(same.convert("RGB"), sheet_img).getbbox() is None

    # A fixed panel at another size is fitted to the box; the rest of the sheet is untouched.
    fixed = Image.new("RGB", (w * 2, h * 2), (200, 20, 20))
    result = recompose_sheet(sheet, box, _png(fixed))
    assert result.note == ""  # same shape, twice the size: scaled, not a change of aspect
    out = Image.open(io.BytesIO(result.data)).convert("RGB")
    assert out.size == sheet_img.size
    assert ImageChops.difference(out, sheet_img).getbbox() == (x, y, x + w, y + h)
    assert out.crop((x, y, x + w, y + h)).getextrema() == ((200, 200), (20, 20), (20, 20))


def test_a_square_answer_for_a_wide_panel_keeps_its_aspect_and_is_never_stretched():
    background = (230, 226, 220)
    sheet_img = Image.new("RGB", (3700, 1700), background)
    sheet_img.paste(Image.new("RGB", (1834, 1536), (40, 90, 160)), (10, 10))  # the old panel
    answer = Image.new("RGB", (1024, 1024), (200, 20, 20))
    answer.paste(Image.new("RGB", (512, 1024), (20, 200, 20)), (512, 0))  # right half green

    result = recompose_sheet(_png(sheet_img), (10, 10, 1834, 1536), _png(answer))

    # Fitted by aspect: 1536x1536, centred in the 1834-wide box; nothing stretched.
    assert result.placed == (10 + 149, 10, 1536, 1536)
    assert "1024×1024" in result.note and "1834×1536" in result.note
    out = Image.open(io.BytesIO(result.data)).convert("RGB")
    x, y, w, h = result.placed
    assert w / h == 1024 / 1024
    # Halves stay halves: the red/green edge sits in the middle of the placed square.
    assert out.getpixel((x + w // 2 - 3, y + 700))[0] > 150
    assert out.getpixel((x + w // 2 + 3, y + 700))[1] > 150
    # The strips beside it are the sheet's background, not the old panel or a stretch.
    assert out.getpixel((12, 700)) == background
    assert out.getpixel((10 + 1834 - 2, 700)) == background


def test_boxes_are_clamped_to_the_sheet_and_empty_ones_refused():
    sheet = _png(Image.new("RGB", (400, 300), (10, 120, 200)))
    assert Image.open(io.BytesIO(crop_panel(sheet, (350, 250, 100, 100)))).size == (50, 50)
    with pytest.raises(ValueError, match="outside"):
        crop_panel(sheet, (500, 0, 10, 10))


def test_bad_input_fails_with_a_reason():
    with pytest.raises(ImageRejected, match="not an image"):
        split_sheet(b"<html>nope</html>", "six")
    with pytest.raises(ImageRejected, match="damaged"):
        split_sheet(_png(Image.new("RGB", (400, 300)))[:200], "six")
    with pytest.raises(UnknownPreset):
        split_sheet(b"not even decoded", "nine")


def test_it_refuses_images_over_the_pixel_cap(settings):
    settings.TURNAROUND_MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(ImageRejected, match="more pixels"):
        split_sheet(_png(Image.new("RGB", (200, 200), BG)), "six")
