"""The sheet stage in the browser's terms: pages, fragments, the pack and the manifest."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from characters import services
from characters.models import Activity, Character, SheetOption
from characters.storage import asset_read

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(character, name, *args):
    return reverse(name, args=[character.project.slug, character.slug, *args])


@pytest.mark.django_db
class TestPages:
    def test_the_character_page_says_why_there_are_no_sheets_yet(self, owner_client, character):
        html = owner_client.get(url(character, "character")).content.decode()
        assert "Generate sheets" not in html

    def test_generating_through_htmx_shows_polling_cards(
        self, owner_client, character, owner, locked_face, monkeypatch, settings
    ):
        from django_q.conf import Conf

        monkeypatch.setattr(Conf, "SYNC", False)
        response = owner_client.post(
            url(character, "sheets-generate"), {"count": "4", "preset": "six"}, **HTMX
        )
        html = response.content.decode()
        assert html.count('hx-trigger="every 2s"') == 4
        assert SheetOption.objects.filter(character=character).count() == 4
        # The history arrives out of band in the same answer; nothing is re-fetched.
        assert 'id="history" hx-get' in html and "generated sheet options" in html
        assert "HX-Trigger" not in response

    def test_generating_without_a_locked_face_says_why(self, owner_client, character):
        response = owner_client.post(
            url(character, "sheets-generate"), {"count": "4", "preset": "six"}, follow=True
        )
        assert "Lock a face first" in response.content.decode()
        assert not SheetOption.objects.exists()

    @pytest.mark.parametrize("count,message", [("0", "at least 1"), ("9", "at most 8")])
    def test_a_bad_count_is_refused(self, owner_client, character, locked_face, count, message):
        response = owner_client.post(
            url(character, "sheets-generate"), {"count": count, "preset": "six"}, **HTMX
        )
        assert message in response.content.decode()
        assert not SheetOption.objects.exists()

    def test_locking_through_htmx(self, owner_client, character, owner, locked_face, sheets):
        a, _ = sheets(character, owner, count=2)
        response = owner_client.post(url(character, "sheet-lock", a.pk), {"confirm": "1"}, **HTMX)
        html = response.content.decode()
        assert "Download reference pack" in html and "Lock this sheet" not in html
        character.refresh_from_db()
        assert character.locked_sheet_id == a.pk

    def test_locking_a_second_option_tells_the_user(
        self, owner_client, character, owner, locked_face, sheets
    ):
        a, b = sheets(character, owner, count=2)
        services.sheet_lock(option=a, user=owner)
        response = owner_client.post(url(character, "sheet-lock", b.pk), {"confirm": "1"}, **HTMX)
        assert "locked a moment ago" in response.content.decode()

    def test_unlocking_needs_a_reason(self, owner_client, character, owner, locked_face, sheets):
        (a,) = sheets(character, owner, count=1)
        services.sheet_lock(option=a, user=owner)
        response = owner_client.post(url(character, "sheet-unlock"), {"reason": ""}, **HTMX)
        assert "Say why" in response.content.decode()
        owner_client.post(url(character, "sheet-unlock"), {"reason": "Jacket wrong"}, **HTMX)
        character.refresh_from_db()
        assert character.locked_sheet is None

    def test_the_option_page_lists_panels_with_boxes_and_the_exact_prompt(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        html = owner_client.get(url(character, "sheet-option", a.pk)).content.decode()
        assert html.count('class="panel-row"') == 6
        assert "Hands empty" in html or "hands empty" in html
        assert "found on the sheet" in html

    def test_correcting_a_box_through_htmx(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        panel = a.panels.get(kind="back")
        response = owner_client.post(
            url(character, "panel-box", panel.pk),
            {"x": panel.x + 2, "y": panel.y, "w": panel.w - 4, "h": panel.h},
            **HTMX,
        )
        assert "corrected box" in response.content.decode()
        panel.refresh_from_db()
        assert panel.x == a.panels.get(kind="back").x and not panel.detected
        assert Activity.objects.filter(verb="corrected panel box").exists()

    def test_a_bad_box_is_refused_with_a_message(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        panel = a.panels.get(kind="back")
        response = owner_client.post(
            url(character, "panel-box", panel.pk), {"x": 0, "y": 0, "w": 99999, "h": 10}, **HTMX
        )
        assert (
            "inside the sheet" in response.content.decode()
            or "at least 16" in response.content.decode()
        )
        response = owner_client.post(
            url(character, "panel-box", panel.pk), {"x": "a", "y": 0, "w": 1, "h": 1}, **HTMX
        )
        assert "whole pixels" in response.content.decode()

    def test_panel_comparison_shows_one_kind_from_every_option(
        self, owner_client, character, owner, locked_face, sheets
    ):
        options = sheets(character, owner, count=3)
        html = owner_client.get(url(character, "panel-compare") + "?kind=profile").content.decode()
        for option in options:
            preview = option.panels.get(kind="profile").preview_id
            assert reverse("asset", args=["lighthouse", preview, "original"]) in html
        assert "Locked face" in html

    def test_the_full_panel_is_cut_on_first_view(
        self, owner_client, character, owner, locked_face, sheets
    ):
        (a,) = sheets(character, owner, count=1)
        panel = a.panels.get(kind="face_closeup")
        response = owner_client.get(url(character, "panel-full", panel.pk))
        panel.refresh_from_db()
        assert panel.crop_id and response["Location"] == reverse(
            "asset", args=["lighthouse", panel.crop_id, "original"]
        )

    @pytest.mark.parametrize("count", [1, 8])
    def test_the_character_page_query_count_is_constant_in_options(
        self,
        owner_client,
        character,
        owner,
        locked_face,
        sheets,
        count,
        django_assert_max_num_queries,
    ):
        sheets(character, owner, count=count)
        with django_assert_max_num_queries(18):
            response = owner_client.get(url(character, "character"))
        assert response.content.decode().count('class="sheet-card') == count


@pytest.mark.django_db
class TestReferences:
    def lock(self, character, owner, sheets):
        (a,) = sheets(character, owner, count=1)
        services.sheet_lock(option=a, user=owner)
        character.refresh_from_db()
        return a

    def test_the_manifest_describes_the_current_locked_revision(
        self, owner_client, character, owner, locked_face, sheets
    ):
        option = self.lock(character, owner, sheets)
        data = owner_client.get(url(character, "manifest")).json()
        assert data["reference_revision"] == character.reference_revision == 2
        assert (
            data["face"]["approved_by"] == "olive"
            and data["face"]["sha256"] == locked_face.image_4k.sha256
        )
        assert data["sheet"]["option"] == option.index and data["sheet"]["locked_by"] == "olive"
        assert data["sheet"]["generation"]["provider"] == "offline"
        assert (
            "Hands empty" in data["sheet"]["generation"]["prompt"]
            or "hands empty" in data["sheet"]["generation"]["prompt"]
        )
        assert [p["kind"] for p in data["panels"]] == [
            "front",
            "three_quarter",
            "profile",
            "back",
            "face_closeup",
            "mid_closeup",
        ]

    def test_the_pack_holds_face_sheet_every_panel_and_the_manifest(
        self, owner_client, character, owner, locked_face, sheets
    ):
        option = self.lock(character, owner, sheets)
        response = owner_client.get(url(character, "reference-pack"))
        assert response["Content-Type"] == "application/zip"
        assert "rev2.zip" in response["Content-Disposition"]
        pack = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        names = set(pack.namelist())
        manifest = json.loads(pack.read("manifest.json"))
        assert {entry["file"] for entry in manifest["panels"]} <= names
        assert manifest["face"]["file"] in names and manifest["sheet"]["file"] in names
        assert pack.read(manifest["sheet"]["file"]) == asset_read(option.image)
        assert len(manifest["panels"]) == 6

    def test_the_pack_needs_a_locked_face(self, owner_client, character):
        response = owner_client.get(url(character, "reference-pack"), follow=True)
        assert "Lock a face" in response.content.decode()

    def test_another_projects_manifest_is_404(
        self, client, character, owner, locked_face, other_project
    ):
        client.force_login(other_project[0].memberships.get().user)
        assert client.get(url(character, "manifest")).status_code == 404


@pytest.mark.django_db
class TestSheetsCommandAndAdmin:
    @pytest.mark.django_db(transaction=True)
    def test_sheets_command_waits_and_prints(self, character, owner, locked_face, capsys, settings):
        settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
        call_command(
            "sheets",
            "lighthouse/mara",
            "--count",
            "2",
            "--wait",
            "--user",
            "olive",
            "--timeout",
            "60",
        )
        out = capsys.readouterr().out
        assert out.count(": succeeded") == 2 and "panels=detected" in out

    def test_sheets_command_without_a_face(self, character, owner):
        with pytest.raises(CommandError, match="Lock a face first"):
            call_command("sheets", "lighthouse/mara", "--user", "olive")

    def test_admin_lock_and_resplit_actions(
        self, client, make_user, character, owner, locked_face, sheets
    ):
        admin = make_user("root", is_staff=True, is_superuser=True)
        client.force_login(admin)
        a, b = sheets(character, owner, count=2)
        changelist = reverse("admin:characters_sheetoption_changelist")
        client.post(changelist, {"action": "resplit", "_selected_action": [a.pk]})
        assert Activity.objects.filter(verb="re-split sheet").count() == 1
        client.post(changelist, {"action": "lock", "_selected_action": [a.pk]})
        assert Character.objects.get(pk=character.pk).locked_sheet_id == a.pk
        response = client.post(
            changelist, {"action": "lock", "_selected_action": [b.pk]}, follow=True
        )
        assert "locked a moment ago" in response.content.decode()
        client.post(changelist, {"action": "unlock", "_selected_action": [a.pk]})
        assert Character.objects.get(pk=character.pk).locked_sheet_id is None
        html = client.get(
            reverse("admin:characters_sheetoption_change", args=[a.pk])
        ).content.decode()
        assert html.count('name="panels-') > 6
