"""Is it the same person? The identity score on real photographs and on offline drawings.

The photos are real people (see tests/photos.py): several of one man and one of another. A sheet
is built of them, stored and split through the real services, and scored by the real task
(run inline on commit), with the real face-embedding model on the CPU.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from characters import identity, services
from characters.models import (
    Activity,
    Generation,
    IdentityScore,
    Panel,
    SheetOption,
    Stage,
)
from characters.storage import asset_store
from tests.photos import (
    OTHER,
    SAME,
    STRANGER_SHEET,
    lock_photo_face,
    photo,
    photo_sheet,
    photos_dir,
    store_photo_sheet,
)


@pytest.fixture(scope="session")
def photos():
    return photos_dir()


@pytest.fixture
def photo_face(character, owner, photos):
    """The character's locked face is a real photograph of one man."""
    return lock_photo_face(character, owner)


@pytest.fixture
def photo_option(character, photo_face, django_capture_on_commit_callbacks):
    """Store a sheet of real photos as the sheet task does; the identity task runs on commit."""

    def make(pictures: dict[str, str | None] = STRANGER_SHEET) -> SheetOption:
        with django_capture_on_commit_callbacks(execute=True):
            option = store_photo_sheet(character, photo_face, pictures)
        option.refresh_from_db()
        return option

    return make


def verdicts(option: SheetOption) -> dict[str, tuple[str, float | None]]:
    panels = list(option.panels.all())
    scores = services.current_scores(panels)
    return {p.kind: (scores[p.pk].verdict, scores[p.pk].distance) for p in panels if p.pk in scores}


class TestTheModelOnRealPhotographs:
    def test_the_same_person_scores_under_the_threshold(self, photos):
        reference = identity.face_in_bytes(photo("obama.jpg"))
        for name in SAME[1:]:
            result = identity.compare(reference, identity.face_in_bytes(photo(name)))
            assert result.verdict == identity.SAME, name
            assert result.distance < identity.THRESHOLD

    def test_another_person_scores_over_it(self, photos):
        for name in SAME:
            result = identity.compare_bytes(photo(name), photo(OTHER))
            assert result.verdict == identity.DIFFERENT, name
            assert result.distance > identity.THRESHOLD

    def test_a_picture_without_a_face_has_no_number(self, photos):
        blank = photo_sheet({"front": None}, size=(640, 360))
        result = identity.compare_bytes(photo("obama.jpg"), blank)
        assert result.verdict == identity.NO_FACE
        assert result.distance is None

    def test_a_reference_without_a_face_is_said_plainly(self, photos):
        blank = photo_sheet({"front": None}, size=(640, 360))
        result = identity.compare_bytes(blank, photo("obama2.jpg"))
        assert result.verdict == identity.NO_REFERENCE
        assert result.distance is None


@pytest.mark.django_db
class TestScoringASheet:
    def test_a_stranger_pasted_into_a_sheet_is_flagged(self, photo_option):
        option = photo_option()
        found = verdicts(option)
        assert set(found) == set(STRANGER_SHEET)
        assert found["three_quarter"][0] == IdentityScore.Verdict.DIFFERENT
        assert found["three_quarter"][1] > identity.THRESHOLD
        for kind in ("front", "face_closeup", "mid_closeup", "profile"):
            assert found[kind][0] == IdentityScore.Verdict.SAME, kind
            assert found[kind][1] < identity.THRESHOLD
        assert found["back"] == (IdentityScore.Verdict.NO_FACE, None)

    def test_the_option_summary_names_the_flagged_panel(self, photo_option):
        option = photo_option()
        summary = services.option_identity(option)
        assert summary["flagged"] == ["three_quarter"]
        assert summary["no_face"] == ["back"]
        assert summary["faces"] == 5 and summary["pending"] == 0
        assert 0 < summary["consistency"] < summary["worst"]
        assert summary["worst"] == round(max(d for _, d in verdicts(option).values() if d), 3)

    def test_a_redelivered_task_scores_nothing_twice(self, photo_option):
        option = photo_option()
        assert services.identity_score_sheet(option=option) == []
        assert IdentityScore.objects.filter(panel__sheet=option).count() == 6

    def test_locking_records_the_identity_with_the_decision(
        self, photo_option, owner, owner_client
    ):
        option = photo_option()
        services.sheet_lock(option=option, user=owner)
        lock = Activity.objects.get(verb="locked sheet", target_id=option.pk)
        assert lock.data["identity"]["flagged"] == ["three_quarter"]
        assert lock.data["identity"]["threshold"] == identity.THRESHOLD
        assert lock.data["identity"]["faces"] == 5
        html = owner_client.get(reverse("character", args=["lighthouse", "mara"])).content.decode()
        assert "identity then: 0." in html and "may be someone else: three quarter)" in html

    def test_a_fix_is_scored_afresh_and_a_new_stranger_is_flagged(
        self, photo_option, owner, character, django_capture_on_commit_callbacks
    ):
        option = photo_option({**STRANGER_SHEET, "three_quarter": "obama3.jpg"})
        services.sheet_lock(option=option, user=owner)
        front = option.panels.get(kind="front")
        original = IdentityScore.objects.get(panel=front)
        assert original.verdict == IdentityScore.Verdict.SAME
        edit = Generation.objects.create(
            project=character.project,
            character=character,
            stage=Stage.EDIT,
            provider="offline",
            status=Generation.Status.SUCCEEDED,
            parameters={"panel": front.pk, "instruction": "remove the earbud"},
            requested_by=owner,
        )
        stranger = asset_store(project=character.project, data=photo(OTHER), mime="image/jpeg")
        with django_capture_on_commit_callbacks(execute=True):
            revision = services.panel_fix_apply(generation=edit, image=stranger)
        front.refresh_from_db()
        assert front.current_revision == revision and revision.number == 2
        original.refresh_from_db()
        assert original.revision.number == 1  # the original score is revision 1's
        new = IdentityScore.objects.get(panel=front, revision=revision)
        assert new.verdict == IdentityScore.Verdict.DIFFERENT
        assert services.option_identity(option)["flagged"] == ["front"]
        flag = Activity.objects.get(verb="flagged a panel that may be someone else")
        assert flag.data["panel"] == "front" and flag.data["number"] == 2

    def test_a_corrected_box_is_measured_again(
        self, photo_option, owner, django_capture_on_commit_callbacks
    ):
        option = photo_option()
        stranger = option.panels.get(kind="three_quarter")
        front = option.panels.get(kind="front")
        with django_capture_on_commit_callbacks(execute=True):
            # Move the three-quarter box onto the front panel's picture.
            services.panel_set_box(
                panel=stranger, user=owner, x=front.x, y=front.y, w=front.w, h=front.h
            )
        score = IdentityScore.objects.get(panel=stranger)
        assert score.verdict == IdentityScore.Verdict.SAME


@pytest.mark.django_db
def test_the_offline_drawings_say_no_face(character, owner, ready):
    panels = list(Panel.objects.filter(sheet=ready))
    scores = services.current_scores(panels)
    assert len(scores) == len(panels) == 6
    assert {s.verdict for s in scores.values()} == {IdentityScore.Verdict.NO_FACE}
    assert all(s.distance is None for s in scores.values())


class TestTheCommand:
    def test_it_prints_distance_threshold_and_verdict_as_json(self, photos, capsys):
        call_command("identity", str(photos / "obama.jpg"), str(photos / OTHER), "--json")
        out = json.loads(capsys.readouterr().out)
        assert out["verdict"] == "different"
        assert out["distance"] > out["threshold"] == identity.THRESHOLD

    def test_it_says_same_person_in_words(self, photos, capsys):
        call_command("identity", str(photos / "obama.jpg"), str(photos / "obama3.jpg"))
        out = capsys.readouterr().out
        assert "verdict: same person" in out and "threshold 0.6" in out

    def test_a_file_that_is_not_a_picture_is_refused_plainly(self, photos, tmp_path):
        text = tmp_path / "notes.txt"
        text.write_text("not a picture")
        with pytest.raises(CommandError, match="not an image Turnaround can read"):
            call_command("identity", str(photos / "obama.jpg"), str(text))

    def test_a_missing_file_is_named(self, photos, tmp_path):
        with pytest.raises(CommandError, match="There is no file at"):
            call_command("identity", str(tmp_path / "nope.jpg"), str(photos / "obama.jpg"))


@pytest.mark.django_db
class TestThePages:
    def test_compare_panels_flags_the_stranger_and_says_no_face_on_the_back(
        self, photo_option, owner_client, character
    ):
        photo_option()
        url = reverse("panel-compare", args=["lighthouse", "mara"])
        html = owner_client.get(url + "?kind=three_quarter").content.decode()
        assert "may be someone else · 0.8" in html and 'class="flagged"' in html
        html = owner_client.get(url + "?kind=front").content.decode()
        assert "same person · 0." in html and "may be someone else ·" not in html
        html = owner_client.get(url + "?kind=back").content.decode()
        assert ">no face<" in html and "same person ·" not in html

    def test_options_order_by_consistency_on_request(self, photo_option, owner_client):
        first = photo_option()  # option 1 has the stranger
        second = photo_option({**STRANGER_SHEET, "three_quarter": "obama3.jpg"})
        url = reverse("panel-compare", args=["lighthouse", "mara"])
        plain = owner_client.get(url).content.decode()
        assert plain.index('data-option="1"') < plain.index('data-option="2"')
        ordered = owner_client.get(url + "?order=consistency").content.decode()
        assert ordered.index('data-option="2"') < ordered.index('data-option="1"')
        page = owner_client.get(
            reverse("character", args=["lighthouse", "mara"]) + "?order=consistency"
        )
        html = page.content.decode()
        # Cards are anchored by primary key (sequences are not rolled back on PostgreSQL).
        assert html.index(f'id="sheet-{second.pk}"') < html.index(f'id="sheet-{first.pk}"')

    def test_the_option_card_names_the_panel_that_may_be_someone_else(
        self, photo_option, owner_client
    ):
        option = photo_option()
        html = owner_client.get(reverse("character", args=["lighthouse", "mara"])).content.decode()
        assert "may be someone else: three quarter" in html
        fragment = owner_client.get(
            reverse("sheet-identity", args=["lighthouse", "mara", option.pk]),
            HTTP_HX_REQUEST="true",
        ).content.decode()
        assert "may be someone else: three quarter" in fragment and "hx-trigger" not in fragment

    def test_an_unmeasured_option_polls_until_it_is_measured(self, photo_option, owner_client):
        option = photo_option()
        IdentityScore.objects.filter(panel__sheet=option, panel__kind="back").delete()
        url = reverse("sheet-identity", args=["lighthouse", "mara", option.pk])
        html = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert "measuring" in html and 'hx-trigger="every 2s"' in html

    def test_the_option_and_panel_pages_badge_each_panel(self, photo_option, owner_client, owner):
        option = photo_option()
        html = owner_client.get(
            reverse("sheet-option", args=["lighthouse", "mara", option.pk])
        ).content.decode()
        assert html.count("same person ·") == 4 and html.count("may be someone else ·") == 1
        stranger = option.panels.get(kind="three_quarter")
        html = owner_client.get(
            reverse("panel", args=["lighthouse", "mara", stranger.pk])
        ).content.decode()
        assert "may be someone else ·" in html
