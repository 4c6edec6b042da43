"""Paid POSTs are made once against double clicks: the server refuses the same request from
the same person within a few seconds, and every paid form disables its button while its
request is in flight (the browser half is in tests/browser/test_casting.py)."""

from __future__ import annotations

import re

import pytest
from django.urls import resolve, reverse

from characters import services
from characters.models import CastingCandidate, Character, Generation
from characters.views.paid import REPEATED

HTMX = {"HTTP_HX_REQUEST": "true"}
# Every URL whose POST calls a provider (docs/security.md, "Roles, guests and paid actions").
PAID = {
    "cast",
    "generation-retry",
    "candidate-approve",
    "sheets-generate",
    "references-retry",
    "inspect",
    "annotation-fix",
    "fix-everywhere",
    "shot-note-trace",
    "shots",
    "shot-render",
    "shots-rerender-stale",
}


def _cast(client, character, count="4", **extra):
    url = reverse("cast", args=[character.project.slug, character.slug])
    return client.post(url, {"count": count}, **extra)


@pytest.mark.django_db
class TestTheServerRefusesARepeat:
    def test_two_quick_cast_posts_make_four_candidates_not_eight(self, owner_client, character):
        first = _cast(owner_client, character, **HTMX)
        second = _cast(owner_client, character, **HTMX)
        assert Generation.objects.filter(character=character, stage="casting").count() == 4
        assert CastingCandidate.objects.filter(character=character).count() == 4
        assert REPEATED not in first.content.decode()
        assert second.status_code == 200 and REPEATED in second.content.decode()

    def test_without_js_the_repeat_is_refused_with_the_message(self, owner_client, character):
        _cast(owner_client, character)
        page = _cast(owner_client, character)
        assert REPEATED in page.content.decode()
        assert Generation.objects.filter(character=character, stage="casting").count() == 4

    def test_different_parameters_or_people_are_new_requests(
        self, client, owner_client, character, editor
    ):
        _cast(owner_client, character, count="2", **HTMX)
        _cast(owner_client, character, count="3", **HTMX)
        client.force_login(editor)
        _cast(client, character, count="2", **HTMX)
        assert Generation.objects.filter(character=character, stage="casting").count() == 7

    def test_a_refused_request_can_be_sent_again(self, owner_client, character, locked_face, owner):
        for _ in range(2):  # the locked face refuses both: neither is taken for a repeat
            html = _cast(owner_client, character, **HTMX).content.decode()
            assert REPEATED not in html and "The face is locked" in html
        services.character_unlock_face(character=character, user=owner, reason="recast")
        html = _cast(owner_client, character, **HTMX).content.decode()
        assert REPEATED not in html
        # One candidate from the fixture, then the four cast once the face was unlocked.
        assert Generation.objects.filter(character=character, stage="casting").count() == 5


@pytest.mark.django_db
def test_every_paid_form_disables_its_button_while_in_flight(
    owner_client, project, character, ready, rendered_shot, owner
):
    panel = ready.panels.get(kind="face_closeup")
    services.annotation_create(
        panel=panel, user=owner, body="AirPod", x=0.1, y=0.1, w=0.1, h=0.1, kind="continuity"
    )
    services.shot_note_create(shot=rendered_shot, user=owner, body="AirPod here", timecode=1.0)
    uncast = Character.objects.create(project=project, name="Jon", slug="jon", brief="A man.")
    pages = [
        reverse("character", args=[project.slug, uncast.slug]),
        reverse("character", args=[project.slug, character.slug]),
        reverse("panel", args=[project.slug, character.slug, panel.pk]),
        reverse("shots", args=[project.slug]),
        reverse("shot", args=[project.slug, rendered_shot.pk]),
    ]
    seen = set()
    for page in pages:
        html = owner_client.get(page).content.decode()
        for tag in re.findall(r"<form\b[^>]*>", html):
            action = re.search(r'action="([^"]*)"', tag)
            if not action or 'method="post"' not in tag:
                continue
            name = resolve(action.group(1)).url_name
            if name in PAID:
                seen.add(name)
                assert 'hx-disabled-elt="find button"' in tag, (page, name, tag)
    # The pages did show these paid forms to check (others need a failure or findings).
    assert seen >= {"cast", "sheets-generate", "inspect", "annotation-fix", "shots"}, seen
    assert seen >= {"shot-render", "shot-note-trace"}, seen
