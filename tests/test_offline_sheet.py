"""The offline generator's sheet, panel edit and inspection, and the split_sheet command."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from PIL import Image, ImageChops

from characters.generators.base import (
    EditSpec,
    GenerationRequest,
    GeneratorError,
    InspectSpec,
    ReferenceImage,
    SheetSpec,
)
from characters.generators.offline import OfflineGenerator
from characters.imaging import crop_panel, split_sheet
from characters.layouts import get_preset

BRIEF = "A woman in her 30s, long auburn hair, green eyes, always wearing an AirPod in her left ear"
SEED = 7


def _sheet(**kw):
    spec = SheetSpec(preset=kw.pop("preset", "six"))
    request = GenerationRequest(
        stage="sheet", prompt=kw.pop("prompt", BRIEF), seed=SEED, spec=spec, **kw
    )
    return OfflineGenerator().generate(request)


def _panel_pngs(result) -> dict[str, bytes]:
    """Each panel cut from the sheet as the app cuts it: the crop keeps what the sheet recorded."""
    sheet = result.assets[0].data
    return {
        p["kind"]: crop_panel(sheet, (p["x"], p["y"], p["w"], p["h"]))
        for p in result.metadata["panels"]
    }


@pytest.fixture(scope="module")
def small_sheet():
    return _sheet(width=1600, height=900)


def _panel_kinds_with(result, name):
    return {i["panel"] for i in result.metadata["items"] if i["name"] == name}


def test_a_full_size_sheet_is_drawn_labelled_and_splits_exactly():
    result = _sheet()
    asset = result.assets[0]
    assert (asset.width, asset.height) == (5504, 3072)
    img = Image.open(io.BytesIO(asset.data))
    assert img.format == "PNG" and img.size == (5504, 3072)
    assert result.provider == "offline" and result.metadata["offline"] is True
    assert result.metadata["label"] == "offline preview"
    drawn = {p["kind"]: (p["x"], p["y"], p["w"], p["h"]) for p in result.metadata["panels"]}
    assert list(drawn) == list(get_preset("six").kinds)
    split = split_sheet(asset.data, "six")
    assert split.method == "detected"
    assert {p.kind: p.box for p in split.panels} == drawn


def test_the_sheet_size_is_capped():
    result = _sheet(width=8000, height=4000)
    assert max(result.assets[0].width, result.assets[0].height) == 6336


def test_an_unknown_preset_is_a_permanent_error():
    with pytest.raises(GeneratorError) as exc:
        _sheet(preset="nine", width=800, height=450)
    assert exc.value.permanent


def test_the_airpod_is_recorded_where_the_left_ear_shows(small_sheet):
    assert _panel_kinds_with(small_sheet, "airpod") == {
        "front",
        "three_quarter",
        "profile",
        "face_closeup",
        "mid_closeup",
    }
    # And it is really there: the middle of its box on the face close-up is near white.
    panel = {p["kind"]: p for p in small_sheet.metadata["panels"]}["face_closeup"]
    item = next(i for i in small_sheet.metadata["items"] if i["panel"] == "face_closeup")
    img = Image.open(io.BytesIO(small_sheet.assets[0].data)).convert("RGB")
    bx, by, bw, bh = item["box"]
    px = panel["x"] + (bx + bw / 2) * panel["w"]
    py = panel["y"] + (by + bh * 0.3) * panel["h"]
    assert min(img.getpixel((int(px), int(py)))) > 230


def test_eight_panels_show_each_side_once():
    result = _sheet(
        preset="eight", width=1600, height=900, prompt="a man with a gold earring and an AirPod"
    )
    assert [p["kind"] for p in result.metadata["panels"]] == list(get_preset("eight").kinds)
    airpod = _panel_kinds_with(result, "airpod")
    earring = _panel_kinds_with(result, "earring")
    assert {"three_quarter_left", "profile_left"} <= airpod
    assert not {"three_quarter_right", "profile_right", "back"} & airpod
    assert {"three_quarter_right", "profile_right"} <= earring
    assert not {"three_quarter_left", "profile_left", "back"} & earring
    assert split_sheet(result.assets[0].data, "eight", previews=False).method == "detected"


def test_the_same_brief_and_seed_draw_the_same_person():
    a, b = _sheet(width=800, height=450), _sheet(width=800, height=450)
    assert a.assets[0].data == b.assets[0].data
    assert a.metadata["traits"]["hair"] == "auburn"


def _inspect(note, panels: dict[str, bytes]):
    request = GenerationRequest(
        stage="inspect",
        prompt=note,
        references=tuple(ReferenceImage(png, "image/png", kind) for kind, png in panels.items()),
        spec=InspectSpec(panels=tuple(panels)),
    )
    return OfflineGenerator().generate(request)


def test_the_inspector_finds_the_airpod_in_each_panel_it_shows(small_sheet):
    recorded = _panel_pngs(small_sheet)
    result = _inspect("She wears an AirPod in shot 12", recorded)
    findings = result.data["findings"]
    assert {f["panel"] for f in findings} == _panel_kinds_with(small_sheet, "airpod")
    expected = {
        i["panel"]: i["box"] for i in small_sheet.metadata["items"] if i["name"] == "airpod"
    }
    for finding in findings:
        assert finding["box"] == expected[finding["panel"]]
        assert "AirPod" in finding["reason"]
    # Other words for the same thing.
    assert len(_inspect("earbuds visible again", recorded).data["findings"]) == len(findings)


def test_the_inspector_says_so_when_nothing_matches(small_sheet):
    recorded = _panel_pngs(small_sheet)
    result = _inspect("her scarf changes colour", recorded)
    assert result.data == {"findings": []}
    assert "names nothing" in result.text
    result = _inspect("she has glasses on in shot 3", recorded)
    assert result.data == {"findings": []}
    assert "No glasses" in result.text


def _edit(panel_png, kind, remove, preset="six"):
    request = GenerationRequest(
        stage="edit",
        prompt="Remove the AirPod from her ear; change nothing else.",
        references=(ReferenceImage(panel_png, "image/png", kind),),
        seed=SEED,
        spec=EditSpec(panel=kind, preset=preset, instruction=" ".join(remove)),
    )
    return OfflineGenerator().generate(request)


@pytest.mark.parametrize("kind", ["face_closeup", "profile"])
def test_an_edit_removes_the_airpod_and_changes_only_its_box(small_sheet, kind):
    panel = {p["kind"]: p for p in small_sheet.metadata["panels"]}[kind]
    box = (panel["x"], panel["y"], panel["w"], panel["h"])
    before_png = crop_panel(small_sheet.assets[0].data, box)
    result = _edit(before_png, kind, ["AirPods"])
    asset = result.assets[0]
    assert (asset.width, asset.height) == box[2:]
    assert result.metadata["removed"] == ["airpod"]
    assert "airpod" not in {i["name"] for i in result.metadata["items"]}

    before = Image.open(io.BytesIO(before_png)).convert("RGB")
    after = Image.open(io.BytesIO(asset.data)).convert("RGB")
    changed = ImageChops.difference(before, after).getbbox()
    assert changed is not None
    bx, by, bw, bh = next(
        i["box"]
        for i in small_sheet.metadata["items"]
        if i["panel"] == kind and i["name"] == "airpod"
    )
    w, h = before.size
    # Everything that changed lies inside the recorded AirPod box (a pixel of slack).
    assert changed[0] >= bx * w - 1 and changed[1] >= by * h - 1
    assert changed[2] <= (bx + bw) * w + 1 and changed[3] <= (by + bh) * h + 1


def test_an_edit_reads_what_to_remove_from_the_instruction(small_sheet):
    panel = {p["kind"]: p for p in small_sheet.metadata["panels"]}["face_closeup"]
    png = crop_panel(small_sheet.assets[0].data, (panel["x"], panel["y"], panel["w"], panel["h"]))
    result = _edit(png, "face_closeup", [])
    assert result.metadata["removed"] == ["airpod"]


def test_an_edit_needs_the_panel_image():
    request = GenerationRequest(
        stage="edit", prompt="remove it", spec=EditSpec(panel="front", preset="", instruction="")
    )
    with pytest.raises(GeneratorError) as exc:
        OfflineGenerator().generate(request)
    assert exc.value.permanent


@pytest.fixture
def sheet_file(tmp_path, small_sheet):
    path = tmp_path / "sheet.png"
    path.write_bytes(small_sheet.assets[0].data)
    return path


def test_the_command_prints_a_table(sheet_file, small_sheet):
    out = io.StringIO()
    call_command("split_sheet", str(sheet_file), stdout=out)
    text = out.getvalue()
    assert "method detected" in text
    for p in small_sheet.metadata["panels"]:
        line = next(row for row in text.splitlines() if row.startswith(p["kind"] + " "))
        assert line.split() == [p["kind"], *(str(p[k]) for k in "xywh"), "detected"]


def test_the_command_prints_json(sheet_file, small_sheet):
    out = io.StringIO()
    call_command("split_sheet", str(sheet_file), "--json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["method"] == "detected" and payload["preset"] == "six"
    assert (payload["width"], payload["height"]) == (1600, 900)
    assert [{k: p[k] for k in ("kind", "x", "y", "w", "h")} for p in payload["panels"]] == [
        {k: p[k] for k in ("kind", "x", "y", "w", "h")} for p in small_sheet.metadata["panels"]
    ]
    assert all(p["detected"] for p in payload["panels"])


def test_the_command_marks_fallback_panels(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (800, 450), (128, 128, 128)).save(path)
    out = io.StringIO()
    call_command("split_sheet", str(path), "--preset", "eight", stdout=out)
    assert "method nominal" in out.getvalue()
    assert out.getvalue().count("fallback (nominal)") == 8


def test_the_command_explains_bad_files(tmp_path):
    with pytest.raises(CommandError, match="no file"):
        call_command("split_sheet", str(tmp_path / "missing.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(CommandError, match=r"broken\.png"):
        call_command("split_sheet", str(broken))
    with pytest.raises(CommandError, match="choose one of"):
        call_command("split_sheet", str(broken), "--preset", "nine")
