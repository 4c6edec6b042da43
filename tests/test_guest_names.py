"""A guest's name is always shown marked as a guest's, and a guest cannot take a member's
name, however they spell it (docs/security.md)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from characters import services
from characters.models import Activity, Role


def _open(client, share_link, name: str):
    link, token = share_link("comment")
    return client.post(f"/s/{token}", {"name": name}), link


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["olive", "OLIVE", "𝔬𝔩𝔦𝔳𝔢", "ⓞⓛⓘⓥⓔ", "ｏｌｉｖｅ", " olive (guest) ", "rita", "Inspection"],
)
def test_a_guest_cannot_take_a_members_name(name, client, share_link, member, project):
    member(Role.REVIEWER, "rita")
    response, _ = _open(client, share_link, name)
    assert response.status_code == 200  # the form again, not into the project
    html = response.content.decode()
    assert "name on this project. Choose another name" in html
    assert f'value="{name.strip()}"' in html  # what they typed is kept
    assert client.get(reverse("board", args=[project.slug])).status_code == 302  # to log in


@pytest.mark.django_db
def test_a_former_member_keeps_their_name(client, share_link, member, project, owner):
    gone = member(Role.EDITOR, "gina")
    services.membership_set_role(
        membership=gone.memberships.get(project=project), user=owner, role="viewer"
    )
    services.membership_remove(membership=gone.memberships.get(project=project), user=owner)
    Activity.objects.create(project=project, actor=gone, actor_name="gina", verb="voted on")
    response, _ = _open(client, share_link, "Gina")
    assert "name on this project. Choose another name" in response.content.decode()


@pytest.mark.django_db
def test_a_guests_name_is_marked_everywhere_it_shows(
    client, share_link, project, owner, character, ready, rendered_shot
):
    response, _ = _open(client, share_link, "Nadia (guest)")
    assert response.status_code == 302
    panel = ready.panels.get(kind="front")
    slug = project.slug
    client.post(
        reverse("annotate", args=[slug, character.slug, panel.pk]),
        {"body": "Collar?", "x": "0.1", "y": "0.1", "w": "0.2", "h": "0.2", "kind": "note"},
    )
    client.post(reverse("character-comment", args=[slug, character.slug]), {"text": "Lovely face"})
    client.post(
        reverse("shot-note-add", args=[slug, rendered_shot.pk]),
        {"body": "Her ear", "at": "0:01"},
    )
    names = set(Activity.objects.filter(project=project, actor=None).values_list("actor_name"))
    assert names == {("Nadia (guest)",)}, names
    activity = client.get(reverse("activity", args=[slug])).content.decode()
    assert '<option value="Nadia (guest)">Nadia (guest)</option>' in activity
    assert "<strong>Nadia (guest)</strong>" in activity
    assert "Nadia (guest) (guest)" not in activity
    panel_page = client.get(reverse("panel", args=[slug, character.slug, panel.pk]))
    assert "<strong>Nadia (guest)</strong>" in panel_page.content.decode()
    shot_page = client.get(reverse("shot", args=[slug, rendered_shot.pk]))
    assert "<strong>Nadia (guest)</strong>" in shot_page.content.decode()
