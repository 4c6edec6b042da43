"""One Access decides for pages and services alike: members by role, guests by their link."""

from __future__ import annotations

import pytest

from characters import services
from characters.access import Access
from characters.models import Activity, Annotation, Role
from characters.permissions import Action, Denied


def _guest(project, owner, permission: str, name: str = "Dana") -> Access:
    link, _token = services.share_link_create(project=project, user=owner, permission=permission)
    return Access.of_guest(project=project, link=link, guest_name=name)


@pytest.mark.django_db
class TestAccess:
    def test_a_members_access_comes_from_their_role(self, project, owner, member):
        reviewer = member(Role.REVIEWER)
        access = Access.of_member(project=project, user=reviewer)
        assert access.role == Role.REVIEWER and not access.is_guest
        assert access.can(Action.ANNOTATE) and not access.can(Action.DECIDE)
        assert Access.of_member(project=project, user=owner).can(Action.MANAGE)

    def test_a_guest_can_only_what_the_link_allows(self, project, owner):
        viewer = _guest(project, owner, "view")
        commenter = _guest(project, owner, "comment")
        assert viewer.can(Action.VIEW) and not viewer.can(Action.ANNOTATE)
        assert commenter.can(Action.ANNOTATE) and not commenter.can(Action.GENERATE)

    def test_a_comment_guest_replies_through_the_same_rules_as_the_page(
        self, project, owner, ready
    ):
        panel = ready.panels.get(kind="front")
        note = services.annotation_create(
            panel=panel, user=owner, body="Collar?", x=0.1, y=0.1, w=0.2, h=0.2
        )
        guest = _guest(project, owner, "comment", name="olive")  # a member's name, typed by a guest
        reply = services.annotation_reply(parent=note, access=guest, body="Looks fine")
        reply.refresh_from_db()
        assert reply.author is None and reply.guest_name == "olive"
        activity = Activity.objects.get(verb="replied")
        assert activity.actor is None and activity.actor_name == "olive (guest)"

    def test_a_view_guest_is_refused_by_the_service_too(self, project, owner, ready):
        panel = ready.panels.get(kind="front")
        with pytest.raises(Denied, match="share link"):
            services.annotation_create(
                panel=panel,
                access=_guest(project, owner, "view"),
                body="x",
                x=0.1,
                y=0.1,
                w=0.1,
                h=0.1,
            )
        assert not Annotation.objects.exists()

    def test_an_access_for_another_project_is_refused(self, project, owner, other_project, ready):
        panel = ready.panels.get(kind="front")
        another, _ = other_project
        stranger_access = Access.of_member(project=another, user=another.memberships.get().user)
        with pytest.raises(Denied):
            services.annotation_create(
                panel=panel, access=stranger_access, body="x", x=0.1, y=0.1, w=0.1, h=0.1
            )
