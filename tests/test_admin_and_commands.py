"""The Django admin pages and the command-line tools."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from characters.models import (
    Activity,
    Asset,
    CastingCandidate,
    Character,
    Generation,
    Membership,
    Project,
)


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.mark.django_db
class TestAdmin:
    @pytest.mark.parametrize(
        "model", [Project, Membership, Character, Generation, Asset, CastingCandidate, Activity]
    )
    def test_every_changelist_renders(self, admin_client, model, character, owner, cast):
        cast(character, owner, count=2)
        url = reverse(f"admin:characters_{model._meta.model_name}_changelist")
        response = admin_client.get(url)
        assert response.status_code == 200
        assert model._meta.verbose_name_plural.lower() in response.content.decode().lower()

    def test_the_character_page_lists_candidates_inline_with_thumbnails(
        self, admin_client, character, owner, cast
    ):
        a, b = cast(character, owner, count=2)
        html = admin_client.get(
            reverse("admin:characters_character_change", args=[character.pk])
        ).content.decode()
        assert reverse("asset", args=["lighthouse", a.image_id, "thumb"]) in html
        assert reverse("asset", args=["lighthouse", b.image_id, "thumb"]) in html

    def test_generations_filter_by_status_and_stage(self, admin_client, character, owner, cast):
        cast(character, owner, count=1)
        url = reverse("admin:characters_generation_changelist")
        assert (
            "1 generation"
            in admin_client.get(url + "?status=succeeded&stage=casting").content.decode()
        )
        assert "0 generations" in admin_client.get(url + "?status=failed").content.decode()

    def test_activity_is_read_only(self, admin_client, character, owner, cast):
        cast(character, owner, count=1)
        activity = Activity.objects.first()
        response = admin_client.post(
            reverse("admin:characters_activity_change", args=[activity.pk]), {"verb": "forged"}
        )
        assert response.status_code == 403
        activity.refresh_from_db()
        assert activity.verb == "cast candidates"

    def test_search_finds_characters_by_brief(self, admin_client, character):
        html = admin_client.get(
            reverse("admin:characters_character_changelist") + "?q=olive"
        ).content.decode()
        assert "Mara Quell" in html


@pytest.mark.django_db
class TestCommands:
    def test_demo_creates_the_project_once_and_prints_how_to_log_in(self, capsys, monkeypatch):
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-demo-password")
        call_command("demo")
        call_command("demo")
        out = capsys.readouterr().out
        assert Project.objects.filter(slug="demo").count() == 1
        assert Character.objects.filter(project__slug="demo").count() == 1
        assert "user 'admin'" in out
        assert "a-long-demo-password" not in out
        from django.contrib.auth import authenticate

        assert authenticate(username="admin", password="a-long-demo-password") is not None

    def test_demo_generates_a_password_when_none_is_given(self, capsys, monkeypatch):
        monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
        call_command("demo")
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if "shown once" in line)
        password = line.rsplit(": ", 1)[1].strip()
        from django.contrib.auth import authenticate

        assert authenticate(username="admin", password=password) is not None
        call_command("demo")
        assert "shown once" not in capsys.readouterr().out

    # transaction=True: the command's on_commit enqueue must fire while it waits.
    @pytest.mark.django_db(transaction=True)
    def test_cast_queues_and_waits(self, character, owner, capsys):
        call_command(
            "cast",
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
        assert out.count(": succeeded") == 2
        assert "cost=$0.0000" in out
        assert (
            CastingCandidate.objects.filter(character=character, image__isnull=False).count() == 2
        )

    @pytest.mark.django_db(transaction=True)
    def test_cast_exits_non_zero_when_any_failed(self, character, owner, monkeypatch, capsys):
        from characters.generators import offline
        from characters.generators.base import GeneratorError

        def refuse(self, request):
            raise GeneratorError("Provider down", permanent=False)

        monkeypatch.setattr(offline.OfflineGenerator, "_casting", refuse)
        with pytest.raises(CommandError, match="1 of 1"):
            call_command(
                "cast",
                "lighthouse/mara",
                "--count",
                "1",
                "--wait",
                "--user",
                "olive",
                "--timeout",
                "60",
            )
        assert "reason=Provider down" in capsys.readouterr().out

    @pytest.mark.parametrize(
        "target,message",
        [("nope", "PROJECT_SLUG/CHARACTER_SLUG"), ("lighthouse/nobody", "No character")],
    )
    def test_cast_names_a_bad_target(self, character, target, message):
        with pytest.raises(CommandError, match=message):
            call_command("cast", target, "--count", "1", "--user", "olive")

    def test_cast_refuses_a_bad_count(self, character, owner):
        with pytest.raises(CommandError, match="between 1 and 8"):
            call_command("cast", "lighthouse/mara", "--count", "50", "--user", "olive")
