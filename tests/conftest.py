"""Shared fixtures: a project with a member of each role, media in a temporary folder, and
django-q2 running tasks inline (tests that need a real worker process start one themselves)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django_q.conf import Conf

from characters import services
from characters.models import Character, Membership, Role

PASSWORD = "correct-horse-battery-staple"
TESTS = Path(__file__).parent
# The provider-client tests time real loopback HTTP with sub-second read timeouts; the browser
# tests keep Chromium, a live server and a qcluster busy. On a two-core machine the two together
# starve those timeouts, so under `--dist loadgroup` they share one group and never overlap.
LOOPBACK_TIMING = (TESTS / "generators", TESTS / "browser")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.path.is_relative_to(folder) for folder in LOOPBACK_TIMING):
            item.add_marker(pytest.mark.xdist_group("loopback-timing"))


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Fast hashing for test users; production keeps Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A 4096 px PNG costs about a second to encode; tests that check the 4K size ask for it.
    settings.TURNAROUND_UPSCALE_TARGET = 1024


def queue_name() -> str:
    """A broker queue nobody else uses: parallel test processes sharing one Redis never take
    each other's tasks."""
    return f"turnaround-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def queue(monkeypatch):
    """A queue of our own for this test's enqueues and its workers, with tasks going to the
    real broker instead of running inline."""
    name = queue_name()
    monkeypatch.setattr(Conf, "CLUSTER_NAME", name)
    monkeypatch.setattr(Conf, "SYNC", False)
    return name


@pytest.fixture(autouse=True)
def _inline_tasks(monkeypatch, request):
    """async_task runs the task in-process: on_commit → enqueue → run, all in the test."""
    if request.node.get_closest_marker("worker") is None:
        monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def make_user(db):
    def make(username: str, **extra):
        return get_user_model().objects.create_user(
            username, f"{username}@example.com", PASSWORD, **extra
        )

    return make


@pytest.fixture
def owner(make_user):
    return make_user("olive")


@pytest.fixture
def project(owner):
    return services.project_create(name="The Lighthouse", owner=owner, slug="lighthouse")


@pytest.fixture
def member(make_user, project):
    def make(role: str, username: str | None = None):
        user = make_user(username or f"{role}-user")
        Membership.objects.create(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def editor(member):
    return member(Role.EDITOR, "eddie")


@pytest.fixture
def character(project):
    return Character.objects.create(
        project=project,
        name="Mara Quell",
        slug="mara",
        brief="A woman in her late 40s, weathered olive skin, short grey hair, grey eyes.",
        distinguishing_marks="Thin scar on the left cheek.",
        hand_props="Brass storm lantern",
    )


@pytest.fixture
def other_project(make_user):
    stranger = make_user("stranger")
    project = services.project_create(name="Another Film", owner=stranger, slug="another")
    character = Character.objects.create(
        project=project, name="Jon", slug="jon", brief="A tall man."
    )
    return project, character


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def cast(django_capture_on_commit_callbacks):
    """Cast candidates and run their generations (inline), returning fresh candidates."""

    def run(character, user, count=2):
        with django_capture_on_commit_callbacks(execute=True):
            candidates = services.casting_start(character=character, user=user, count=count)
        for candidate in candidates:
            candidate.refresh_from_db()
        return candidates

    return run


@pytest.fixture
def approve(django_capture_on_commit_callbacks):
    def run(candidate, user):
        with django_capture_on_commit_callbacks(execute=True):
            services.candidate_approve(candidate=candidate, user=user)
        candidate.refresh_from_db()
        return candidate

    return run


@pytest.fixture
def locked_face(character, owner, cast, approve):
    """The character with a locked face and its 4K portrait ready."""
    (candidate,) = cast(character, owner, count=1)
    approve(candidate, owner)
    character.refresh_from_db()
    return candidate


@pytest.fixture
def sheets(django_capture_on_commit_callbacks, settings):
    """Generate sheet options and run them inline. Small sheets keep the tests fast."""
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"

    def run(character, user, count=2, preset=None):
        with django_capture_on_commit_callbacks(execute=True):
            options = services.sheet_generate(
                character=character, user=user, count=count, preset=preset
            )
        for option in options:
            option.refresh_from_db()
        return options

    return run


@pytest.fixture
def ready(character, owner, locked_face, sheets):
    """A character whose wardrobe puts an AirPod on them, with face and sheet locked."""
    character.wardrobe = "Navy jumper. Wears an AirPod in her left ear."
    character.save()
    (option,) = sheets(character, owner, count=1)
    services.sheet_lock(option=option, user=owner)
    character.refresh_from_db()
    return option


@pytest.fixture
def run_inline(django_capture_on_commit_callbacks):
    """Run a service that enqueues work, executing the tasks inline on commit."""

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Rate-limit counters live in the shared cache: every test starts with none, under a key
    prefix of its own. (Clearing would flush a Redis other test processes share, and a
    database cache can't be touched by tests that have no database.)"""
    default = settings.CACHES["default"]
    settings.CACHES = {
        **settings.CACHES,
        "default": {**default, "KEY_PREFIX": f"{default.get('KEY_PREFIX', '')}-{uuid.uuid4().hex}"},
    }


@pytest.fixture
def share_link(project, owner):
    """Make a share link on the test project; returns (link, token)."""

    def make(permission="view", **extra):
        return services.share_link_create(
            project=project, user=owner, permission=permission, **extra
        )

    return make


@pytest.fixture
def guest_client(client, share_link):
    """A browser without an account that opened a comment share link as 'Nadia'."""

    def make(permission="comment", name="Nadia", **extra):
        link, token = share_link(permission, **extra)
        data = {"name": name, "password": extra.get("password", "")}
        response = client.post(f"/s/{token}", data)
        assert response.status_code == 302, response.status_code
        return client, link

    return make


# The fake provider server and its fixtures, for tests outside tests/generators/ too.
from tests.generators.conftest import fake, fake_provider, fast, sleeps  # noqa: E402, F401


@pytest.fixture
def rendered_shot(character, owner, ready, run_inline):
    """A shot rendered (inline) from the `ready` character's locked references."""
    made = run_inline(
        services.shot_create,
        project=character.project,
        user=owner,
        prompt="Close on her face as she turns",
        characters=[character],
    )
    made.refresh_from_db()
    assert made.generation.status == "succeeded"
    return made
