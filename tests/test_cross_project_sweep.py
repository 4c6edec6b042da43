"""Every URL in characters.urls, aimed at another project's objects, is a 404 — logged in as a
member of a different project, or holding a share link for a different project. The sweep
fails when a pattern is added without being covered here."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver, reverse

from characters import services
from characters.models import Membership

# Patterns that take no project: checked on their own below.
# reference-file serves the asset library's downloads: no session, a signed expiring token.
NOT_PROJECT_SCOPED = {"board-home", "notifications", "share-open", "invite-open", "reference-file"}


def all_patterns() -> list[URLPattern]:
    return [p for p in get_resolver("characters.urls").url_patterns if isinstance(p, URLPattern)]


@pytest.fixture
def foreign(other_project, cast, approve, sheets, django_capture_on_commit_callbacks):
    """Another project's objects of every kind a URL can name."""
    project, jon = other_project
    stranger = Membership.objects.get(project=project).user
    (candidate,) = cast(jon, stranger, count=1)
    approve(candidate, stranger)
    jon.refresh_from_db()
    (option,) = sheets(jon, stranger, count=1)
    services.sheet_lock(option=option, user=stranger)
    jon.refresh_from_db()
    panel = option.panels.get(kind="face_closeup")
    note = services.annotation_create(
        panel=panel, user=stranger, body="AirPod", x=0.1, y=0.1, w=0.1, h=0.1, kind="continuity"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.panel_fix_request(annotation=note, user=stranger)
        inspection = services.inspect_start(character=jon, user=stranger, description="AirPod")
    with django_capture_on_commit_callbacks(execute=True):
        shot = services.shot_create(project=project, user=stranger, prompt="x", characters=[jon])
    rule = services.rule_create(character=jon, user=stranger, text="no earbuds")
    shot_note = services.shot_note_create(
        shot=shot, user=stranger, body="AirPod in her ear", timecode=1.0
    )
    revision = panel.revisions.get(number=1)
    link, _ = services.share_link_create(project=project, user=stranger, permission="comment")
    return {
        "project": project,
        "character": jon,
        "pk": {
            "generation-retry": candidate.generation_id,
            "asset": candidate.image_id,
            "candidate": candidate.pk,
            "candidate-decide": candidate.pk,
            "candidate-approve": candidate.pk,
            "candidate-vote": candidate.pk,
            "sheet-option": option.pk,
            "sheet-lock": option.pk,
            "sheet-vote": option.pk,
            "sheet-identity": option.pk,
            "panel-box": option.panels.first().pk,
            "panel-kind": option.panels.first().pk,
            "panel-full": option.panels.first().pk,
            "member-change": Membership.objects.get(project=project).pk,
            "share-link-revoke": link.pk,
            "panel": panel.pk,
            "annotate": panel.pk,
            "annotation-reply": note.pk,
            "annotation-status": note.pk,
            "annotation-fix": note.pk,
            "revision-revert": revision.pk,
            "rule-remove": rule.pk,
            "inspection": inspection.pk,
            "shot": shot.pk,
            "shot-render": shot.pk,
            "shot-note-add": shot.pk,
            "shot-note-reply": shot.pk,
            "shot-note-status": shot.pk,
            "shot-note-trace": shot.pk,
            "fix-everywhere": inspection.pk,
            "dismiss-findings": inspection.pk,
        },
        "note_pk": shot_note.pk,
    }


def urls_for(pattern: URLPattern, foreign: dict, own_project, own_character) -> list[str]:
    """The pattern aimed at the other project, and (for patterns naming an object, when
    own_project is given) the other project's object under our own project's slug."""
    keys = set(pattern.pattern.converters)
    name = pattern.name

    def build(project_slug: str, character_slug: str) -> str:
        kwargs: dict = {}
        if "project_slug" in keys:
            kwargs["project_slug"] = project_slug
        if "character_slug" in keys:
            kwargs["character_slug"] = character_slug
        if "pk" in keys:
            kwargs["pk"] = foreign["pk"][name]
        if "note_pk" in keys:
            kwargs["note_pk"] = foreign["note_pk"]
        if "variant" in keys:
            kwargs["variant"] = "original"
        return reverse(name, kwargs=kwargs)

    urls = [build(foreign["project"].slug, foreign["character"].slug)]
    if "pk" in keys and own_project is not None:
        urls.append(build(own_project.slug, own_character.slug))
    return urls


def sweep(client, foreign, project=None, character=None) -> set[str]:
    visited = set()
    for pattern in all_patterns():
        assert pattern.name, f"unnamed URL pattern {pattern.pattern}"
        if pattern.name in NOT_PROJECT_SCOPED:
            continue
        for url in urls_for(pattern, foreign, project, character):
            get = client.get(url)
            post = client.post(url, {"decision": "shortlist", "value": "up", "text": "hi"})
            # A view that takes only the other method may answer 405 before looking anything
            # up; that says nothing about the project. Everything else must be 404.
            assert {get.status_code, post.status_code} <= {404, 405}, (url, get, post)
            assert 404 in {get.status_code, post.status_code}, url
        visited.add(pattern.name)
    return visited


def check_unscoped(client) -> set[str]:
    # Another project's objects never appear on these pages; a made-up token is a 404.
    assert client.get(reverse("share-open", args=["x" * 43])).status_code == 404
    assert client.get(reverse("reference-file", args=["eyJhIjoxfQ:x:y"])).status_code == 404
    assert client.get(reverse("invite-open", args=["x" * 43])).status_code == 404
    response = client.get(reverse("notifications"))
    assert response.status_code in (200, 302) and b"Another Film" not in response.content
    response = client.get(reverse("board-home"))
    assert b"Another Film" not in response.content
    return set(NOT_PROJECT_SCOPED)


@pytest.mark.django_db
def test_a_member_of_another_project_gets_404_everywhere(owner_client, foreign, project, character):
    visited = sweep(owner_client, foreign, project, character)
    visited |= check_unscoped(owner_client)
    assert visited == {p.name for p in all_patterns()}


@pytest.mark.django_db
def test_a_guest_with_a_link_to_another_project_gets_404_everywhere(
    guest_client, foreign, project, character
):
    client, _ = guest_client("comment")
    # A guest is refused (403) any action before an object is looked up, so only the other
    # project's URLs are swept here; the owner's sweep covers foreign ids under our slug.
    visited = sweep(client, foreign)
    visited |= check_unscoped(client)
    assert visited == {p.name for p in all_patterns()}


@pytest.mark.django_db
def test_every_pattern_is_known_to_the_sweep(foreign):
    with_pk = {p.name for p in all_patterns() if "pk" in p.pattern.converters}
    assert with_pk == set(foreign["pk"]), "add the new pattern's object to the foreign fixture"
