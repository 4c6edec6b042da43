"""Inviting people: by username (added at once) or e-mail address (an invite link, mailed, that
works once, expires, and is stored only as a hash); the person signs up and joins with the role."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from characters import services
from characters.models import Activity, Invite, Membership, Role

SETTINGS = reverse("member-add", args=["lighthouse"])


def invite_link(html: str) -> str:
    found = re.search(r'value="(http[^"]+/invite/[^"]+)" id="new-invite-url"', html)
    return found.group(1) if found else ""


@pytest.mark.django_db
class TestInviting:
    def test_an_existing_account_is_added_by_e_mail_address(self, owner_client, project, make_user):
        rita = make_user("rita")
        owner_client.post(SETTINGS, {"who": "RITA@example.com", "role": "editor"})
        assert Membership.objects.get(project=project, user=rita).role == Role.EDITOR
        assert not Invite.objects.exists() and not mail.outbox

    def test_an_address_without_an_account_gets_a_mailed_single_use_link(
        self, owner_client, project
    ):
        response = owner_client.post(SETTINGS, {"who": "nadia@example.com", "role": "reviewer"})
        html = response.content.decode()
        link = invite_link(html)
        assert 'data-copy="#new-invite-url"' in html and response["Cache-Control"] == "no-store"
        (message,) = mail.outbox
        assert message.to == ["nadia@example.com"] and link in message.body
        invite = Invite.objects.get()
        token = link.rsplit("/", 1)[1]
        assert invite.token_hash == services.share_token_hash(token) and token not in str(
            Invite.objects.values().get()
        )
        assert invite.expires_at > timezone.now() + timedelta(days=6)
        assert Activity.objects.filter(verb="invited", project=project).exists()

    def test_a_plain_unknown_username_says_how_to_invite(self, owner_client, project):
        response = owner_client.post(SETTINGS, {"who": "nobody", "role": "viewer"}, follow=True)
        assert "enter their e-mail address" in response.content.decode()
        assert not Invite.objects.exists()

    def test_only_an_owner_may_invite(self, client, project, member):
        client.force_login(member("editor"))
        response = client.post(SETTINGS, {"who": "x@example.com", "role": "owner"})
        assert response.status_code in (403, 404) and not Invite.objects.exists()


@pytest.mark.django_db
class TestJoining:
    def make(self, project, owner, **extra):
        invite, token = services.invite_create(
            project=project, user=owner, email="nadia@example.com", role="editor", **extra
        )
        return invite, reverse("invite-open", args=[token])

    def test_signing_up_joins_with_the_role_and_logs_in(self, client, project, owner):
        invite, url = self.make(project, owner)
        page = client.get(url).content.decode()
        assert "Join The Lighthouse" in page and 'value="nadia@example.com"' in page
        response = client.post(
            url,
            {
                "username": "nadia",
                "email": "nadia@example.com",
                "password1": "a long pass phrase 42",
                "password2": "a long pass phrase 42",
            },
        )
        assert response.status_code == 302 and response["Location"] == project.get_absolute_url()
        nadia = get_user_model().objects.get(username="nadia")
        assert Membership.objects.get(project=project, user=nadia).role == Role.EDITOR
        invite.refresh_from_db()
        assert invite.used_by == nadia and invite.used_at is not None
        assert client.get(project.get_absolute_url()).status_code == 200  # logged in

    def test_it_works_once(self, client, project, owner, make_user):
        _, url = self.make(project, owner)
        client.force_login(make_user("first"))
        client.post(url)
        client.logout()
        client.force_login(make_user("second"))
        response = client.get(url)
        assert response.status_code == 410 and "used already" in response.content.decode()
        assert client.post(url).status_code == 410
        assert not Membership.objects.filter(user__username="second").exists()

    def test_an_expired_invite_says_so(self, client, project, owner):
        invite, url = self.make(project, owner)
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now())
        response = client.get(url)
        assert response.status_code == 410 and "expired" in response.content.decode()

    def test_a_wrong_token_is_the_plain_404(self, client, project, owner):
        self.make(project, owner)
        assert client.get(reverse("invite-open", args=["not-a-token"])).status_code == 404

    def test_a_bad_sign_up_loses_nothing_and_says_why(self, client, project, owner):
        invite, url = self.make(project, owner)
        html = client.post(
            url, {"username": "nadia", "password1": "short", "password2": "other"}
        ).content.decode()
        assert "didn" in html or "match" in html
        assert 'value="nadia"' in html
        invite.refresh_from_db()
        assert invite.used_at is None and not get_user_model().objects.filter(username="nadia")


@pytest.mark.django_db
def test_when_the_mail_cannot_be_sent_the_invite_stands_and_the_page_says_so(
    owner_client, project, settings
):
    # A real SMTP connection to a loopback port nothing listens on: refused at once.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 5},
        }
    }
    response = owner_client.post(SETTINGS, {"who": "nadia@example.com", "role": "viewer"})
    html = response.content.decode()
    assert "the mail could not be sent" in html and invite_link(html)
    assert Invite.objects.filter(email="nadia@example.com", used_at__isnull=True).count() == 1
