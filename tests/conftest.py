"""Shared fixtures: a project with a member of each role, media in a temporary folder, and
django-q2 running tasks inline (tests that need a real worker process start one themselves)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_q.conf import Conf

from characters import services
from characters.models import Character, Membership, Role

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Fast hashing for test users; production keeps Django's default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


# The fake provider server and its fixtures, for tests outside tests/generators/ too.
from tests.generators.conftest import fake, fake_provider, fast, sleeps  # noqa: E402, F401
