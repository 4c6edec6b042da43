"""Every free-text entry point and every query parameter, fed a NUL byte, NaN or far too much
text: the answer is the form with a message in the product's words (or a cleaned filter), never
a 500, and nothing corrupt is stored. Runs on SQLite and, with DATABASE_URL, on PostgreSQL
(where a NUL used to be a 500)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from characters import services
from characters.models import (
    Activity,
    Annotation,
    Character,
    ContinuityRule,
    Generation,
    Membership,
    Shot,
    ShotNote,
)

NUL = "before\x00after"
HTMX = {"HTTP_HX_REQUEST": "true"}
NUL_WORDS = "cannot be saved (a NUL byte)"


@dataclass
class World:
    client: Client
    project: Any
    character: Character
    panel: Any
    annotation: Annotation
    shot: Shot
    note: ShotNote
    comment_token: str

    def c(self, name: str, *args: Any) -> str:
        return reverse(name, args=[self.project.slug, self.character.slug, *args])

    def p(self, name: str, *args: Any) -> str:
        return reverse(name, args=[self.project.slug, *args])


@pytest.fixture
def world(client, owner, character, rendered_shot, share_link, run_inline) -> World:
    option = character.locked_sheet
    panel = option.panels.get(kind="front")
    annotation = services.annotation_create(
        panel=panel, body="An earbud", x=0.1, y=0.1, w=0.2, h=0.2, kind="continuity", user=owner
    )
    note = services.shot_note_create(
        shot=rendered_shot, body="Her earbud", timecode=1.0, user=owner
    )
    _, token = share_link("comment")
    client.force_login(owner)
    return World(
        client, character.project, character, panel, annotation, rendered_shot, note, token
    )


# (entry point, URL, form data, what the page says, the model that must not grow)
POSTS = [
    (
        "note",
        lambda w: w.c("annotate", w.panel.pk),
        {"body": NUL, "x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2},
        NUL_WORDS,
        Annotation,
    ),
    (
        "note box NaN",
        lambda w: w.c("annotate", w.panel.pk),
        {"body": "ok", "x": "nan", "y": 0.1, "w": 0.2, "h": 0.2},
        "The box (x) must be a finite number",
        Annotation,
    ),
    (
        "note box Infinity",
        lambda w: w.c("annotate", w.panel.pk),
        {"body": "ok", "x": 0.1, "y": 0.1, "w": "inf", "h": 0.2},
        "The box (w) must be a finite number",
        Annotation,
    ),
    (
        "reply",
        lambda w: w.c("annotation-reply", w.annotation.pk),
        {"body": NUL},
        NUL_WORDS,
        Annotation,
    ),
    ("rule", lambda w: w.c("rule-add"), {"text": NUL}, NUL_WORDS, ContinuityRule),
    ("inspect", lambda w: w.c("inspect"), {"description": NUL}, NUL_WORDS, Generation),
    (
        "fix instruction",
        lambda w: w.c("annotation-fix", w.annotation.pk),
        {"instruction": NUL},
        NUL_WORDS,
        Generation,
    ),
    ("comment", lambda w: w.c("character-comment"), {"text": NUL}, NUL_WORDS, Activity),
    (
        "shot prompt",
        lambda w: w.p("shots"),
        {"prompt": NUL, "characters": "{character}", "duration": 5},
        NUL_WORDS,
        Shot,
    ),
    (
        "shot note",
        lambda w: w.p("shot-note-add", w.shot.pk),
        {"body": NUL, "at": "00:01.0"},
        NUL_WORDS,
        ShotNote,
    ),
    (
        "shot note box NaN",
        lambda w: w.p("shot-note-add", w.shot.pk),
        {"body": "ok", "at": "00:01.0", "x": "NaN", "y": 0.1, "w": 0.2, "h": 0.2},
        "The box (x) must be a finite number",
        ShotNote,
    ),
    (
        "shot note reply",
        lambda w: w.p("shot-note-reply", w.shot.pk, w.note.pk),
        {"body": NUL},
        NUL_WORDS,
        ShotNote,
    ),
    ("member", lambda w: w.p("member-add"), {"who": NUL, "role": "viewer"}, NUL_WORDS, Membership),
    (
        "new character",
        lambda w: w.p("board"),
        {"new-name": NUL, "new-brief": "A face."},
        "Null characters are not allowed",
        Character,
    ),
    (
        "brief",
        lambda w: w.c("character-brief"),
        {"brief": NUL},
        "Null characters are not allowed",
        None,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, data, words, model", [case[1:] for case in POSTS], ids=[case[0] for case in POSTS]
)
def test_a_nul_or_nan_in_a_form_is_refused_with_a_message(world, url, data, words, model):
    data = {k: (str(world.character.pk) if v == "{character}" else v) for k, v in data.items()}
    before = model.objects.count() if model else None
    brief = Character.objects.get(pk=world.character.pk).brief
    response = world.client.post(url(world), data, **HTMX)
    assert response.status_code < 500
    page = response.content.decode()
    if response.status_code in (301, 302):  # Django's messages framework carries it
        page = world.client.get(response["Location"]).content.decode()
    assert words in page
    if model is not None:
        assert model.objects.count() == before
    assert Character.objects.get(pk=world.character.pk).brief == brief
    assert not any("\x00" in body for body in Annotation.objects.values_list("body", flat=True))


@pytest.mark.django_db
def test_a_guest_name_with_a_nul_is_refused_and_kept_in_the_form(world):
    guest = Client()
    url = reverse("share-open", args=[world.comment_token])
    response = guest.post(url, {"name": "Ana\x00"})
    assert response.status_code == 200
    assert "The name contains a character that cannot be saved" in response.content.decode()
    # No grant was given: the board still sends the guest back.
    assert guest.get(world.p("board")).status_code in (302, 404)


@pytest.mark.django_db
def test_a_guest_name_over_eighty_characters_is_refused_not_cut(world):
    guest = Client()
    name = "N" * 81
    response = guest.post(reverse("share-open", args=[world.comment_token]), {"name": name})
    page = response.content.decode()
    assert "Keep the name under 80 characters (it has 81)" in page
    assert name in page


GETS = [
    (
        "activity filters",
        lambda w: w.p("activity") + "?character=ma%00ra&person=ol%00ive&page=1%00",
    ),
    ("activity huge filter", lambda w: w.p("activity") + "?person=" + "x" * 100_000),
    ("board", lambda w: w.p("board") + "?q=%00"),
    ("character fragment", lambda w: w.c("character") + "?fragment=%00&poll=1&seen=%00"),
    ("compare panels", lambda w: w.c("panel-compare") + "?kind=fr%00ont&order=%00"),
    ("compare candidates", lambda w: w.c("compare") + "?c=1%00&c=%00"),
    ("changes", lambda w: w.c("character-changes") + "?since=1%00"),
    ("shots", lambda w: w.p("shots") + "?fragment=shot-list%00"),
    ("shot changes", lambda w: w.p("shots-changes") + "?since=%00"),
    ("panel", lambda w: w.c("panel", w.panel.pk) + "?fragment=annotations%00&watch=%00"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", [case[1] for case in GETS], ids=[case[0] for case in GETS])
def test_a_nul_in_any_query_parameter_is_cleaned_not_a_500(world, url):
    response = world.client.get(url(world))
    assert response.status_code in (200, 204, 302, 400, 404)


@pytest.mark.django_db
def test_the_activity_filter_still_filters_once_the_nul_is_gone(world):
    page = world.client.get(world.p("activity") + "?person=ol%00ive").content.decode()
    assert 'value="olive"' in page or "olive" in page


@pytest.mark.django_db
def test_a_long_shot_prompt_is_refused_with_its_limit_and_kept_in_the_form(world):
    prompt = ("She turns toward the lighthouse. " * 3031)[:99_999] + "!"  # 100,000 characters
    data = {"prompt": prompt, "characters": str(world.character.pk), "duration": 5}
    response = world.client.post(world.p("shots"), data, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Keep the shot prompt under 2,000 characters (it has 100,000)" in page
    assert prompt in page  # the typed text comes back to shorten
    assert Shot.objects.count() == 1  # only the fixture's


@pytest.mark.django_db
def test_a_shot_prompt_at_the_limit_is_taken(world):
    prompt = "x" * 2000
    data = {"prompt": prompt, "characters": str(world.character.pk), "duration": 5}
    world.client.post(world.p("shots"), data, **HTMX)
    assert Shot.objects.filter(prompt=prompt).exists()
