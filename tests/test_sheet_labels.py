"""The optional vision check of a split's panel kinds: one cheap Gemini request per sheet,
over real HTTP to the fake provider server, that confirms or corrects the kinds and keeps its
cost; offline, or when the answer is unusable, the geometry alone decides."""

from __future__ import annotations

import base64
import io

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image

from characters import services
from characters.generators.base import GeneratorError, LabelSpec
from characters.generators.gemini import GeminiGenerator
from characters.models import Activity, Generation, Stage
from characters.services.sheets import LABEL_SIDE, label_request

SIX = ("front", "three_quarter", "profile", "back", "face_closeup", "mid_closeup")


@pytest.fixture
def labelled(fake, settings, character, owner, locked_face, run_inline):
    """A sheet made and split through the fake Gemini, its labels asked for and applied."""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    (option,) = run_inline(services.sheet_generate, character=character, user=owner, count=1)
    option.refresh_from_db()
    return option


def label_requests(fake):
    return [r for r in fake.routed("gemini.generate") if "numbered regions" in r.body.decode()]


@pytest.mark.django_db
def test_each_split_sheet_is_labelled_once_and_its_cost_kept(fake, labelled):
    (generation,) = Generation.objects.filter(stage=Stage.LABEL)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error
    assert generation.provider == "gemini" and generation.model == settings.GEMINI_INSPECT_MODEL
    assert generation.cost_usd > 0
    (request,) = label_requests(fake)
    body = request.json()
    parts = body["contents"][0]["parts"]
    assert parts[0]["text"].count("Region ") == 6
    (image,) = [p["inlineData"] for p in parts if "inlineData" in p]
    sent = Image.open(io.BytesIO(base64.b64decode(image["data"])))
    assert image["mimeType"] == "image/jpeg" and max(sent.size) <= 1024  # cheap: a small copy
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    # The answer agreed with the geometry: every kind confirmed, nothing to review.
    panels = list(labelled.panels.all())
    assert [p.kind for p in panels] == list(SIX)
    assert all(p.confidence >= 0.9 for p in panels)
    labelled.refresh_from_db()
    assert not labelled.split_review
    assert Activity.objects.get(verb="labelled panels").data["renamed"] == []


@pytest.mark.django_db
def test_the_labels_correct_a_kind_and_flag_it(fake, labelled, owner, run_inline):
    before = {p.kind: (p.x, p.w) for p in labelled.panels.all()}
    fake.add_fault("gemini.generate", "label_swap")
    run_inline(services.sheet_resplit, option=labelled, user=owner)
    after = {p.kind: (p.x, p.w) for p in labelled.panels.all()}
    # The fake saw the profile where the geometry read the back, and the other way round.
    assert after["profile"] == before["back"] and after["back"] == before["profile"]
    assert after["front"] == before["front"]
    labelled.refresh_from_db()
    assert labelled.split_review
    assert any("Gemini saw the back" in note for note in labelled.split_notes)
    assert labelled.panels.get(kind="back").confidence == 0.7
    assert Generation.objects.filter(stage=Stage.LABEL).count() == 2


@pytest.mark.django_db
def test_an_unusable_answer_leaves_the_geometry_to_decide(fake, labelled, owner, run_inline):
    fake.add_fault("gemini.generate", "bad_labels")
    run_inline(services.sheet_resplit, option=labelled, user=owner)
    failed = Generation.objects.filter(stage=Stage.LABEL).latest("pk")
    assert failed.status == Generation.Status.FAILED
    assert "keeps its own reading" in failed.error
    panels = list(labelled.panels.all())
    assert [p.kind for p in panels] == list(SIX)
    assert all(p.confidence == 0.95 for p in panels)  # the geometry's own, unconfirmed


@pytest.mark.django_db
def test_a_sheet_a_person_touched_keeps_its_kinds(fake, labelled, owner, run_inline):
    fake.add_fault("gemini.generate", "label_swap")
    with pytest.MonkeyPatch.context() as patch:
        # The person names a panel between the split and the answer.
        from characters.services import sheets

        real_queue = sheets.sheet_label_queue

        def queue_then_touch(*, option):
            generation = real_queue(option=option)
            front = option.panels.get(kind="front")
            sheets.panel_set_box(
                panel=front, user=owner, x=front.x, y=front.y, w=front.w - 2, h=front.h
            )
            return generation

        patch.setattr(sheets, "sheet_label_queue", queue_then_touch)
        run_inline(services.sheet_resplit, option=labelled, user=owner)
    assert [p.kind for p in labelled.panels.all()] == list(SIX)
    assert Generation.objects.filter(stage=Stage.LABEL).latest("pk").status == "succeeded"


@pytest.mark.django_db
def test_offline_the_geometry_alone_decides(character, owner, locked_face, sheets):
    (option,) = sheets(character, owner, count=1)
    assert option.split_method == "detected"
    assert not Generation.objects.filter(stage=Stage.LABEL).exists()


def test_labels_must_name_every_region_once_with_the_layouts_kinds():
    spec = LabelSpec(kinds=SIX, regions=((0, 0, 0.1, 0.9),) * 6)
    ok = [{"region": i + 1, "kind": k} for i, k in enumerate(SIX)]
    import json

    assert GeminiGenerator.parse_labels(json.dumps(ok), spec) == dict(enumerate(SIX, start=1))
    for bad in (
        ok[:5],  # a region left out
        [*ok[:5], {"region": 6, "kind": "front"}],  # a kind twice
        [*ok[:5], {"region": 7, "kind": "mid_closeup"}],  # no such region
        [*ok[:5], {"region": 6, "kind": "left_profile"}],  # not the layout's kind
    ):
        with pytest.raises(GeneratorError, match="keeps its own reading"):
            GeminiGenerator.parse_labels(json.dumps(bad), spec)


@pytest.mark.django_db
def test_the_label_request_is_made_from_the_stored_preview_not_the_full_sheet(fake, labelled):
    """A background worker never decodes a 4K sheet to send a 1024-pixel copy of it."""
    image = labelled.image
    assert image.preview
    default_storage.delete(image.file.name)  # only the preview is left to read
    request = label_request(Generation.objects.get(stage=Stage.LABEL))
    (reference,) = request.references
    sent = Image.open(io.BytesIO(reference.data))
    assert sent.format == "JPEG" and max(sent.size) == LABEL_SIDE
