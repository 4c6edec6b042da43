"""Continuity and shots through the views, htmx and plain."""

from __future__ import annotations

import pytest
from django.urls import reverse

from characters import services
from characters.models import Annotation, ContinuityRule, Generation, Shot

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(character, name, *args):
    return reverse(name, args=[character.project.slug, character.slug, *args])


@pytest.fixture
def face_panel(ready):
    return ready.panels.get(kind="face_closeup")


@pytest.mark.django_db
class TestAnnotating:
    def test_the_panel_page_shows_the_surface_and_the_script(
        self, owner_client, character, face_panel
    ):
        html = owner_client.get(url(character, "panel", face_panel.pk)).content.decode()
        assert 'id="surface"' in html and 'data-can-draw="1"' in html and "js/annotate.js" in html

    def test_annotating_through_htmx_returns_the_list(self, owner_client, character, face_panel):
        response = owner_client.post(
            url(character, "annotate", face_panel.pk),
            {
                "x": "0.7",
                "y": "0.4",
                "w": "0.1",
                "h": "0.15",
                "body": "Earbud here",
                "kind": "continuity",
            },
            **HTMX,
        )
        html = response.content.decode()
        assert "Earbud here" in html and 'data-x="0.7"' in html
        assert "HX-Trigger" not in response  # nothing on the panel page listens for one
        note = Annotation.objects.get()
        assert (note.kind, note.author.username, note.panel_id) == (
            "continuity",
            "olive",
            face_panel.pk,
        )

    def test_a_plain_post_redirects_back_to_the_panel(self, owner_client, character, face_panel):
        response = owner_client.post(
            url(character, "annotate", face_panel.pk),
            {"x": "0.1", "y": "0.1", "w": "0.2", "h": "0.2", "body": "ok"},
        )
        assert response.status_code == 302 and response["Location"] == url(
            character, "panel", face_panel.pk
        )
        assert Annotation.objects.count() == 1

    @pytest.mark.parametrize(
        "region,message",
        [
            ({"x": "0.95", "y": "0.1", "w": "0.2", "h": "0.1"}, "inside the panel"),
            ({"x": "0.1", "y": "0.1", "w": "0", "h": "0.1"}, "no size"),
            ({"x": "", "y": "", "w": "", "h": ""}, "Draw a box"),
            ({"x": "abc", "y": "0.1", "w": "0.1", "h": "0.1"}, "Draw a box"),
        ],
    )
    def test_a_bad_region_keeps_the_note_and_says_why(
        self, owner_client, character, face_panel, region, message
    ):
        response = owner_client.post(
            url(character, "annotate", face_panel.pk), {**region, "body": "keep me"}, **HTMX
        )
        html = response.content.decode()
        assert response.status_code == 200 and message in html and "keep me" in html
        assert not Annotation.objects.exists()

    def test_another_projects_panel_is_404(self, client, character, face_panel, other_project):
        client.force_login(other_project[0].memberships.get().user)
        response = client.post(
            url(character, "annotate", face_panel.pk),
            {"x": "0.1", "y": "0.1", "w": "0.1", "h": "0.1", "body": "x"},
        )
        assert response.status_code == 404
        assert not Annotation.objects.exists()

    def test_reply_resolve_reopen(self, owner_client, character, owner, face_panel):
        note = services.annotation_create(
            panel=face_panel, user=owner, body="Hm", x=0.1, y=0.1, w=0.1, h=0.1
        )
        owner_client.post(url(character, "annotation-reply", note.pk), {"body": "Agreed"}, **HTMX)
        assert note.replies.get().body == "Agreed"
        owner_client.post(url(character, "annotation-status", note.pk), {"resolved": "1"}, **HTMX)
        assert Annotation.objects.get(pk=note.pk).status == "resolved"
        html = owner_client.post(
            url(character, "annotation-status", note.pk), {"resolved": "0"}, **HTMX
        ).content.decode()
        assert "Reopened" in html

    def test_a_viewer_sees_no_drawing_and_cannot_post(self, client, member, character, face_panel):
        client.force_login(member("viewer"))
        html = client.get(url(character, "panel", face_panel.pk)).content.decode()
        assert "data-can-draw" not in html and "annotation-form" not in html
        response = client.post(
            url(character, "annotate", face_panel.pk),
            {"x": "0.1", "y": "0.1", "w": "0.1", "h": "0.1", "body": "x"},
        )
        assert response.status_code == 403


@pytest.mark.django_db
class TestInspectFixRules:
    def test_inspect_then_fix_through_the_views(
        self, owner_client, character, face_panel, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(
                url(character, "inspect"), {"description": "An AirPod in shot 9"}, **HTMX
            )
        assert "An AirPod in shot 9" in response.content.decode()
        inspection = Generation.objects.get(stage="inspect")
        card = owner_client.get(url(character, "inspection", inspection.pk), **HTMX)
        assert "found in" in card.content.decode() and "inspection-finished" in card["HX-Trigger"]
        flagged = Annotation.objects.get(panel=face_panel, found_by_inspection=True)
        with django_capture_on_commit_callbacks(execute=True):
            owner_client.post(
                url(character, "annotation-fix", flagged.pk), {"instruction": "Remove it"}, **HTMX
            )
        flagged.refresh_from_db()
        assert flagged.status == "resolved" and flagged.resolved_by_revision.number == 2
        # The watch on a finished fix reloads the page so the new image shows.
        watch = owner_client.get(
            url(character, "panel", face_panel.pk) + "?fragment=annotations&watch=fix", **HTMX
        )
        assert watch.status_code == 204 and watch["HX-Refresh"] == "true"
        html = owner_client.get(url(character, "panel", face_panel.pk)).content.decode()
        assert "Revision 2" in html and "Revert to this" in html

    def test_inspect_without_a_description_says_so(self, owner_client, character, ready):
        response = owner_client.post(url(character, "inspect"), {"description": " "}, **HTMX)
        assert "Describe what you saw" in response.content.decode()
        assert not Generation.objects.filter(stage="inspect").exists()

    def test_rules_are_added_and_removed(self, owner_client, character, ready):
        html = owner_client.post(
            url(character, "rule-add"), {"text": "no earbuds"}, **HTMX
        ).content.decode()
        assert "no earbuds" in html
        rule = ContinuityRule.objects.get()
        owner_client.post(url(character, "rule-remove", rule.pk), **HTMX)
        assert not ContinuityRule.objects.exists()

    def test_a_rule_from_an_annotation_records_its_source(
        self, owner_client, owner, character, face_panel
    ):
        note = services.annotation_create(
            panel=face_panel,
            user=owner,
            body="AirPod",
            x=0.1,
            y=0.1,
            w=0.1,
            h=0.1,
            kind="continuity",
        )
        owner_client.post(
            url(character, "rule-add"), {"text": "no earbuds", "annotation": note.pk}, **HTMX
        )
        assert ContinuityRule.objects.get().source_annotation == note

    def test_revert_reloads_the_page(self, owner_client, owner, character, face_panel, run_inline):
        note = services.annotation_create(
            panel=face_panel,
            user=owner,
            body="AirPod",
            x=0.1,
            y=0.1,
            w=0.1,
            h=0.1,
            kind="continuity",
        )
        run_inline(services.panel_fix_request, annotation=note, user=owner)
        first = face_panel.revisions.get(number=1)
        response = owner_client.post(url(character, "revision-revert", first.pk), **HTMX)
        assert response.status_code == 204 and response["HX-Refresh"] == "true"
        face_panel.refresh_from_db()
        assert face_panel.current_revision.number == 3

    def test_the_character_page_query_count_with_continuity(
        self, owner_client, owner, character, face_panel, django_assert_max_num_queries
    ):
        for i in range(5):
            services.annotation_create(
                panel=face_panel, user=owner, body=f"n{i}", x=0.1, y=0.1, w=0.1, h=0.1
            )
        with django_assert_max_num_queries(24):
            response = owner_client.get(url(character, "character"))
        assert ">5<" in response.content.decode()


@pytest.mark.django_db
class TestShotViews:
    def test_making_a_shot_and_seeing_it_go_stale(
        self, owner_client, owner, character, face_panel, django_capture_on_commit_callbacks
    ):
        shots = reverse("shots", args=["lighthouse"])
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(
                shots,
                {
                    "prompt": "She looks up",
                    "characters": [character.pk],
                    "duration": "5",
                    "ratio": "16:9",
                    "resolution": "720p",
                },
                **HTMX,
            )
        assert "She looks up" in response.content.decode()
        shot = Shot.objects.get()
        assert shot.video is not None
        note = services.annotation_create(
            panel=face_panel,
            user=owner,
            body="AirPod",
            x=0.1,
            y=0.1,
            w=0.1,
            h=0.1,
            kind="continuity",
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.panel_fix_request(annotation=note, user=owner)
        html = owner_client.get(shots).content.decode()
        assert "1 stale shot" in html and "Face closeup fixed: " in html
        with django_capture_on_commit_callbacks(execute=True):
            html = owner_client.post(
                reverse("shots-rerender-stale", args=["lighthouse"]), **HTMX
            ).content.decode()
        assert "Re-rendering 1 shot" in html
        assert "stale shot" not in owner_client.get(shots).content.decode()
        assert shot.renders.count() == 2

    def test_a_shot_without_characters_is_refused_and_the_prompt_kept(self, owner_client, ready):
        response = owner_client.post(
            reverse("shots", args=["lighthouse"]),
            {"prompt": "Keep this prompt", "duration": "5"},
            **HTMX,
        )
        html = response.content.decode()
        assert "Choose at least one character" in html and "Keep this prompt" in html
        assert not Shot.objects.exists()

    def test_another_projects_characters_cannot_be_used(self, owner_client, ready, other_project):
        _, stranger = other_project
        response = owner_client.post(
            reverse("shots", args=["lighthouse"]),
            {"prompt": "x", "characters": [stranger.pk]},
            **HTMX,
        )
        assert "Choose at least one character" in response.content.decode()
        assert not Shot.objects.exists()

    def test_a_pending_shot_polls(self, owner_client, owner, character, ready, monkeypatch):
        from django_q.conf import Conf

        monkeypatch.setattr(Conf, "SYNC", False)
        owner_client.post(
            reverse("shots", args=["lighthouse"]),
            {"prompt": "x", "characters": [character.pk], "duration": "5"},
        )
        html = owner_client.get(reverse("shots", args=["lighthouse"])).content.decode()
        assert 'hx-trigger="every 2s"' in html and "Rendering" in html
