"""Who may do what, as the pages show it: every control a role or a share link sees answers
its POST (no 403 behind a button), and paid actions (provider calls) need an editor.
See docs/security.md, "Roles, guests and paid actions"."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from characters import services
from characters.models import Annotation, Generation, Role


class PostForms(HTMLParser):
    """Every <form method="post"> on a page: its action and the values it would send."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._current = {}
            self.forms.append((a.get("action") or "", self._current))
        elif self._current is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if name and name not in self._current:
                # Required free text gets a word so the POST reaches the permission check.
                self._current[name] = a.get("value") or "x"

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def post_forms(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = PostForms()
    parser.feed(html)
    return parser.forms


@pytest.fixture
def scene(project, owner, character, ready, rendered_shot):
    """A locked sheet with an annotation and a shot with a note: every control has a target."""
    panel = ready.panels.get(kind="face_closeup")
    annotation = services.annotation_create(
        panel=panel, user=owner, body="AirPod", x=0.1, y=0.1, w=0.1, h=0.1, kind="continuity"
    )
    services.shot_note_create(shot=rendered_shot, user=owner, body="AirPod here", timecode=1.0)
    return {
        "pages": [
            reverse("board", args=[project.slug]),
            reverse("character", args=[project.slug, character.slug]),
            reverse("panel", args=[project.slug, character.slug, panel.pk]),
            reverse("shots", args=[project.slug]),
            reverse("shot", args=[project.slug, rendered_shot.pk]),
            reverse("activity", args=[project.slug]),
        ],
        "panel": panel,
        "annotation": annotation,
    }


def _login(client, member, guest_client, who: str):
    if who == "view-guest":
        return guest_client("view", name="")[0]
    if who == "comment-guest":
        return guest_client("comment", name="Nadia")[0]
    client.force_login(member(who, f"{who}-user"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("who", [Role.REVIEWER, Role.VIEWER, "view-guest", "comment-guest"])
def test_every_control_shown_answers_its_post(who, scene, client, member, guest_client):
    browser = _login(client, member, guest_client, who)
    refused = []
    seen = 0
    for page in scene["pages"]:
        response = browser.get(page)
        assert response.status_code == 200, (page, response.status_code)
        for action, data in post_forms(response.content.decode()):
            if action == reverse("logout"):
                continue  # the one control that ends the session the sweep runs in
            seen += 1
            answer = browser.post(action, data)
            if answer.status_code == 403:
                refused.append((page, action))
    assert not refused, f"{who} sees controls that answer 403: {refused}"
    if who in (Role.REVIEWER, "comment-guest"):
        assert seen > 0  # they annotate and reply: the sweep did post something


@pytest.mark.django_db
@pytest.mark.parametrize("who", [Role.REVIEWER, Role.VIEWER, "view-guest", "comment-guest"])
def test_paid_inspection_needs_an_editor(who, scene, client, member, guest_client, character):
    browser = _login(client, member, guest_client, who)
    page = browser.get(reverse("character", args=[character.project.slug, character.slug]))
    assert reverse("inspect", args=[character.project.slug, character.slug]) not in (
        page.content.decode()
    )
    before = Generation.objects.filter(stage="inspect").count()
    answer = browser.post(
        reverse("inspect", args=[character.project.slug, character.slug]),
        {"description": "an AirPod in shot 12"},
    )
    assert answer.status_code == 403
    assert Generation.objects.filter(stage="inspect").count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("who", [Role.REVIEWER, "comment-guest"])
def test_resolving_an_annotation_needs_an_editor(who, scene, client, member, guest_client):
    browser = _login(client, member, guest_client, who)
    annotation = scene["annotation"]
    project, character = annotation.panel.sheet.character.project, annotation.panel.sheet.character
    url = reverse("annotation-status", args=[project.slug, character.slug, annotation.pk])
    page = browser.get(reverse("panel", args=[project.slug, character.slug, scene["panel"].pk]))
    html = page.content.decode()
    assert url not in html
    assert reverse("annotation-reply", args=[project.slug, character.slug, annotation.pk]) in html
    assert browser.post(url, {"resolved": "1"}).status_code == 403
    annotation.refresh_from_db()
    assert annotation.status == Annotation.Status.OPEN


@pytest.mark.django_db
def test_an_editor_inspects_and_resolves(scene, client, editor, character):
    client.force_login(editor)
    project = character.project
    page = client.get(reverse("character", args=[project.slug, character.slug])).content.decode()
    assert reverse("inspect", args=[project.slug, character.slug]) in page
    client.post(
        reverse("inspect", args=[project.slug, character.slug]),
        {"description": "an AirPod in shot 12"},
    )
    assert Generation.objects.filter(stage="inspect", requested_by=editor).count() == 1
    annotation = scene["annotation"]
    client.post(
        reverse("annotation-status", args=[project.slug, character.slug, annotation.pk]),
        {"resolved": "1"},
    )
    annotation.refresh_from_db()
    assert annotation.status == Annotation.Status.RESOLVED
