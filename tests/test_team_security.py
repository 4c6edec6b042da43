"""Security that holds: the role matrix through the real views, the share-link matrix, CSRF on
every state change, the CSP header on every page, escaping of every user-written field,
production settings, login limits, logout, removal, and the refusal log."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone

from characters import services
from characters.models import Activity, CastingCandidate, Character, Membership, Role, Vote

from .conftest import PASSWORD

HTMX = {"HTTP_HX_REQUEST": "true"}
ROOT = Path(__file__).resolve().parent.parent

# who → what they may do
MAY = {
    "owner": {"view", "vote", "annotate", "generate", "decide", "edit_brief", "manage"},
    "editor": {"view", "vote", "annotate", "generate", "decide", "edit_brief"},
    "reviewer": {"view", "vote", "annotate"},
    "viewer": {"view"},
    "guest-view": {"view"},
    "guest-comment": {"view", "annotate"},
}
ACTIONS = ["view", "vote", "annotate", "generate", "decide", "edit_brief", "manage"]


def snapshot(character):
    return (
        Vote.objects.count(),
        Activity.objects.filter(verb="commented").count(),
        CastingCandidate.objects.filter(character=character).count(),
        list(CastingCandidate.objects.values_list("decision", flat=True).order_by("pk")),
        Character.objects.get(pk=character.pk).brief,
        Membership.objects.count(),
    )


@pytest.fixture
def as_who(client, owner, member, guest_client):
    def login(who):
        if who == "owner":
            client.force_login(owner)
        elif who.startswith("guest-"):
            guest_client(who.removeprefix("guest-"))
        else:
            client.force_login(member(who))
        return client

    return login


@pytest.mark.django_db
@pytest.mark.parametrize("who", list(MAY))
@pytest.mark.parametrize("action", ACTIONS)
def test_role_matrix(who, action, as_who, character, owner, cast, make_user):
    (candidate,) = cast(character, owner, count=1)
    make_user("newcomer")
    client = as_who(who)
    p, c = character.project.slug, character.slug
    requests = {
        "view": ("get", reverse("character", args=[p, c]), {}),
        "vote": ("post", reverse("candidate-vote", args=[p, c, candidate.pk]), {"value": "up"}),
        "annotate": ("post", reverse("character-comment", args=[p, c]), {"text": "Nice jaw"}),
        "generate": ("post", reverse("cast", args=[p, c]), {"count": 1}),
        "decide": (
            "post",
            reverse("candidate-decide", args=[p, c, candidate.pk]),
            {"decision": "shortlist"},
        ),
        "edit_brief": ("post", reverse("character-brief", args=[p, c]), {"brief": "Changed."}),
        "manage": (
            "post",
            reverse("member-add", args=[p]),
            {"username": "newcomer", "role": "viewer"},
        ),
    }
    method, url, data = requests[action]
    before = snapshot(character)
    response = getattr(client, method)(url, data)
    if action in MAY[who]:
        assert response.status_code in (200, 302), response.status_code
        if action != "view":
            assert snapshot(character) != before
    else:
        assert response.status_code in (403, 404)
        assert snapshot(character) == before


@pytest.mark.django_db
def test_pages_offer_only_what_the_role_allows(as_who, character, owner, cast):
    cast(character, owner, count=1)
    url = reverse("character", args=[character.project.slug, character.slug])
    html = as_who("viewer").get(url).content.decode()
    for marker in ('name="decision"', 'name="count"', 'name="value"', 'name="text"', "Settings"):
        assert marker not in html
    html = as_who("reviewer").get(url).content.decode()
    assert 'name="value"' in html and 'name="text"' in html and 'name="decision"' not in html


# --- share links -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("permission", ["view", "comment"])
@pytest.mark.parametrize("expiry", ["none", "future", "past"])
@pytest.mark.parametrize("revoked", [False, True])
@pytest.mark.parametrize("password", ["", "s3cret-pass"])
def test_share_link_matrix(
    client, share_link, owner, character, permission, expiry, revoked, password
):
    link, token = share_link(
        permission,
        password=password,
        expires_at=None if expiry == "none" else timezone.now() + timedelta(days=1),
    )
    if expiry == "past":
        type(link).objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(1))
    if revoked:
        services.share_link_revoke(link=link, user=owner)
    url = f"/s/{token}"
    board = reverse("board", args=["lighthouse"])
    comment = reverse("character-comment", args=["lighthouse", "mara"])
    if revoked or expiry == "past":
        response = client.get(url)
        assert response.status_code == 410
        assert ("revoked" if revoked else "expired") in response.content.decode()
        assert client.get(board).status_code in (302, 404)
        return
    response = client.get(url)
    if password or permission == "comment":
        assert response.status_code == 200  # the form
        if password:
            # A wrong password shows the form again, saying so, with the typed name kept.
            wrong = client.post(url, {"password": "nope", "name": "Nadia Q"})
            assert wrong.status_code == 200
            page = wrong.content.decode()
            assert "That password is not right." in page and 'type="password"' in page
            if permission == "comment":
                assert 'name="name" value="Nadia Q"' in page
            assert client.get(board).status_code in (302, 404)
        response = client.post(url, {"password": password, "name": "Nadia"})
    assert response.status_code == 302 and response["Location"] == board
    assert client.get(board).status_code == 200
    link.refresh_from_db()
    assert link.use_count == 1 and link.last_used_at is not None
    # Once per session, not per request.
    client.get(url)
    link.refresh_from_db()
    assert link.use_count == 1
    assert Activity.objects.filter(verb="opened share link", target_id=link.pk).count() == 1
    posted = client.post(comment, {"text": "Lovely"})
    assert posted.status_code == (302 if permission == "comment" else 403)
    assert Activity.objects.filter(verb="commented").exists() == (permission == "comment")
    # Guests never generate, decide or manage.
    assert (
        client.post(reverse("cast", args=["lighthouse", "mara"]), {"count": 1}).status_code == 403
    )
    assert client.get(reverse("project-settings", args=["lighthouse"])).status_code == 403
    # Revoking ends access on the next request, and the page says why.
    services.share_link_revoke(link=link, user=owner)
    ended = client.get(board)
    assert ended.status_code == 410 and "This link was revoked" in ended.content.decode()


@pytest.mark.django_db
def test_a_wrong_token_looks_like_a_missing_page_and_is_rate_limited(client, project):
    missing = client.get("/no-such-page/")
    wrong = client.get("/s/" + "A" * 43)
    assert wrong.status_code == missing.status_code == 404
    assert wrong.content == missing.content
    for _ in range(10):
        client.get("/s/" + "B" * 43)
    response = client.get("/s/" + "C" * 43)
    assert response.status_code == 429 and "Wait 15 minutes" in response.content.decode()


@pytest.mark.django_db
def test_the_token_is_stored_only_as_a_hash(share_link):
    link, token = share_link("view")
    assert len(token) >= 43  # 32 random bytes
    assert token not in str(list(type(link).objects.values_list()))
    assert link.token_hash == services.share_token_hash(token)


@pytest.mark.django_db
def test_guests_see_no_costs_unless_the_project_allows(guest_client, project, character):
    client, _ = guest_client("view")
    from characters.views.common import project_access  # noqa: F401  (documented behaviour)

    html = client.get(reverse("character", args=["lighthouse", "mara"])).content.decode()
    assert "Spend" not in html
    assert client.get(reverse("asset", args=["lighthouse", 999, "original"])).status_code == 404
    assert client.get(reverse("board-home")).status_code == 302  # no list of projects
    assert client.get("/admin/").status_code == 302


# --- CSRF ------------------------------------------------------------------------------------


def every_url(character, candidate, option, membership, link) -> list[tuple[str, str]]:
    p, c = character.project.slug, character.slug
    pks = {
        "generation-retry": candidate.generation_id,
        "asset": candidate.image_id,
        "member-change": membership.pk,
        "share-link-revoke": link.pk,
        "sheet-option": option.pk,
        "sheet-lock": option.pk,
        "sheet-vote": option.pk,
        "panel-box": option.panels.first().pk,
        "panel-full": option.panels.first().pk,
    }
    urls = []
    for pattern in get_resolver("characters.urls").url_patterns:
        if not isinstance(pattern, URLPattern):
            continue
        keys = set(pattern.pattern.converters)
        kwargs = {}
        if "project_slug" in keys:
            kwargs["project_slug"] = p
        if "character_slug" in keys:
            kwargs["character_slug"] = c
        if "pk" in keys:
            kwargs["pk"] = pks.get(pattern.name, candidate.pk)
        if "variant" in keys:
            kwargs["variant"] = "preview"
        if "note_pk" in keys:
            kwargs["note_pk"] = 1
        if "token" in keys:
            kwargs["token"] = "t" * 43
        urls.append((pattern.name, reverse(pattern.name, kwargs=kwargs)))
    return urls


@pytest.fixture
def everything(character, owner, cast, approve, sheets, share_link, member):
    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    character.refresh_from_db()
    (option,) = sheets(character, owner, count=1)
    link, _ = share_link("view")
    membership = Membership.objects.get(user=member(Role.VIEWER))
    return every_url(character, candidate, option, membership, link)


@pytest.mark.django_db
def test_csrf_is_enforced_on_every_post(everything, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get(reverse("board", args=["lighthouse"]))
    token = client.cookies["csrftoken"].value
    for name, url in [*everything, ("login", reverse("login")), ("logout", reverse("logout"))]:
        for extra in ({}, HTMX):
            assert client.post(url, {}, **extra).status_code == 403, name
        ok = client.post(url, {}, HTTP_X_CSRFTOKEN=token, **HTMX)
        assert ok.status_code != 403, name
        client.force_login(owner)  # logout and role changes above must not end the sweep


# --- CSP -------------------------------------------------------------------------------------


def check_csp(response, url):
    csp = response["Content-Security-Policy"]
    directives = dict(([*d.strip().split(" ", 1), ""])[:2] for d in csp.split(";") if d.strip())
    # Django adds the nonce only when the page used it: every full page does (its scripts);
    # a fragment or Django's plain 404 has none, and its script-src stays 'self'.
    if b"<script" in response.content:
        assert "'nonce-" in directives["script-src"], url
    assert "unsafe-inline" not in directives["script-src"], url
    assert "unsafe-eval" not in csp, url
    assert directives["object-src"] == "'none'", url
    assert directives["base-uri"] == "'none'", url
    assert directives["frame-ancestors"] == "'none'", url


@pytest.mark.django_db
def test_every_page_sends_a_strict_csp(everything, owner_client, client):
    pages = 0
    for _name, url in everything:
        response = owner_client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            check_csp(response, url)
            pages += b"<html" in response.content
    assert pages >= 8
    for url in (reverse("login"), "/s/" + "x" * 43):
        check_csp(Client().get(url), url)


# --- XSS -------------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>\"'"


@pytest.mark.django_db
def test_user_written_text_is_escaped_everywhere(
    owner_client, owner, project, cast, approve, share_link
):
    project.name = XSS
    project.save()
    character = services.character_create(
        project=project,
        user=owner,
        name=XSS,
        brief=XSS,
        wardrobe=XSS,
        distinguishing_marks=XSS,
        hand_props=XSS,
    )
    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    services.character_unlock_face(character=character, user=owner, reason=XSS)
    services.character_comment(character=character, user=owner, text=XSS + " @olive")
    _link, token = share_link("comment", label=XSS)
    guest = Client()
    guest.post(f"/s/{token}", {"name": XSS})
    guest.post(reverse("character-comment", args=[project.slug, character.slug]), {"text": XSS})
    services.character_update_brief(character=character, user=owner, brief="x " + XSS)
    pages = [
        reverse("board", args=[project.slug]),
        reverse("character", args=[project.slug, character.slug]),
        reverse("activity", args=[project.slug]),
        reverse("project-settings", args=[project.slug]),
        reverse("compare", args=[project.slug, character.slug]),
    ]
    owner_client.force_login(owner)
    for url in pages:
        html = owner_client.get(url).content.decode()
        assert "<script>alert(1)" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    html = guest.get(reverse("character", args=[project.slug, character.slug])).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    # The guest's name and comment reach the history escaped.
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;") >= 3


# --- production settings, login, logout, removal, logging -----------------------------------


def test_deploy_check_is_clean():
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; production never does.
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "k" * 20 + "-a-long-random-looking-secret-key-9f8e7d6c5b4a",
        "DJANGO_ALLOWED_HOSTS": "example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_login_is_rate_limited_per_username_and_address(client, owner):
    url = reverse("login")
    for _ in range(5):
        assert client.post(url, {"username": "olive", "password": "wrong"}).status_code == 200
    response = client.post(url, {"username": "olive", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed log-in attempts. Wait 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another username from the same address is unaffected.
    assert client.post(url, {"username": "nobody", "password": "x"}).status_code == 200


@pytest.mark.django_db
def test_logout_ends_the_session(client, owner):
    client.post(reverse("login"), {"username": "olive", "password": PASSWORD})
    key = client.session.session_key
    from django.contrib.sessions.models import Session

    assert Session.objects.filter(session_key=key).exists()
    client.post(reverse("logout"))
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get(reverse("board", args=["lighthouse"])).status_code == 302


@pytest.mark.django_db
def test_a_removed_member_loses_access_at_once(client, owner, member, project):
    reviewer = member(Role.REVIEWER)
    client.force_login(reviewer)
    board = reverse("board", args=["lighthouse"])
    assert client.get(board).status_code == 200
    services.membership_remove(membership=Membership.objects.get(user=reviewer), user=owner)
    assert client.get(board).status_code == 404


@pytest.mark.django_db
def test_refused_access_is_logged_without_secrets(client, owner, member, caplog, other_project):
    _, token = services.share_link_create(
        project=other_project[0], user=other_project[0].memberships.get().user, permission="view"
    )
    client.force_login(member(Role.VIEWER))
    with caplog.at_level("WARNING", logger="turnaround.access"):
        client.get(reverse("board", args=["another"]) + "?secret=abc")
        client.post(reverse("cast", args=["lighthouse", "x"]), {"count": 1})
        client.get("/s/" + token[:-2] + "zz")
    lines = [r.getMessage() for r in caplog.records if r.name == "turnaround.access"]
    assert any("user=viewer-user" in line and "path=/p/another/" in line for line in lines)
    assert any("ip=127.0.0.1" in line for line in lines)
    assert all("secret=abc" not in line and token[:20] not in line for line in lines)
