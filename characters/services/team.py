"""Team review: votes, comments, mentions, members, guest names, share links and invites.

Long because it holds every rule about who is on a project and how they speak there, which the
settings page, the share page and the review views all share."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..access import Access
from ..models import (
    Activity,
    CastingCandidate,
    Character,
    Invite,
    Membership,
    Notification,
    Project,
    Role,
    ShareLink,
    SheetOption,
    Vote,
)
from ..permissions import Action, Denied, role_allows
from ..validation import fold_name
from .core import (
    ServiceError,
    access_for,
    activity_record,
    clean_text,
    membership_role,
    require,
)

# --- team review: votes, comments, mentions, members, share links ----------------------------


def vote_tally(
    *, candidate: CastingCandidate | None = None, sheet: SheetOption | None = None
) -> dict:
    """Up and down votes on one candidate or sheet option, and who cast them, as stored with an
    approval or lock so the record shows what the team thought at that moment."""
    votes = (
        Vote.objects.filter(candidate=candidate) if candidate else Vote.objects.filter(sheet=sheet)
    )
    rows = list(votes.order_by("created_at", "id").values_list("user__username", "value"))
    return {
        "up": sum(1 for _, v in rows if v > 0),
        "down": sum(1 for _, v in rows if v < 0),
        "up_by": [u for u, v in rows if v > 0],
        "down_by": [u for u, v in rows if v < 0],
    }


def vote_cast(
    *,
    user: AbstractBaseUser | None,
    candidate: CastingCandidate | None = None,
    sheet: SheetOption | None = None,
    value: int,
) -> Vote | None:
    """Vote up (+1), down (-1), or withdraw one's vote (0): the vote is set to what was asked,
    so the same request twice (a double click, a retried POST) changes nothing the second
    time, rather than toggling back. Returns the vote as it stands, or None when there is none."""
    if (candidate is None) == (sheet is None):
        raise ServiceError("Vote on one candidate or one sheet option.")
    if value not in (1, -1, 0):
        raise ServiceError("A vote is up or down.")
    character = (candidate or sheet).character
    require(project=character.project, user=user, action=Action.VOTE)
    target = {"candidate": candidate} if candidate else {"sheet": sheet}
    with transaction.atomic():
        # Lock the card voted on: a vote is read, then changed, created or withdrawn, and the
        # same person's votes arriving together (a double click, several tabs) must take turns,
        # or two of them both find no vote and the second insert breaks the one-vote constraint.
        (CastingCandidate if candidate else SheetOption).objects.select_for_update().filter(
            pk=(candidate or sheet).pk
        ).first()
        existing = Vote.objects.filter(user=user, **target).first()
        if (existing.value if existing is not None else 0) == value:
            return existing  # already so: nothing to change or record
        if value == 0:
            existing.delete()
            vote, verb = None, "withdrew vote on"
        elif existing is not None:
            existing.value = value
            existing.save(update_fields=["value"])
            vote, verb = existing, "changed vote on"
        else:
            vote, verb = Vote.objects.create(user=user, value=value, **target), "voted on"
        label = "candidate" if candidate else f"sheet option {sheet.index}"
        activity_record(
            project=character.project,
            actor=user,
            verb=f"{verb} {label}",
            target=candidate or sheet,
            character=character,
            value=value,
        )
    return vote


MENTION = re.compile(r"(?<![\w.])@([\w.+-]{1,150})")


def notify_mentions(*, project: Project, activity: Activity, text: str) -> list[Notification]:
    """Notify every member of the project @mentioned in the text (not the author)."""
    names = {m.rstrip(".") for m in MENTION.findall(text or "")}
    if not names:
        return []
    users = (
        get_user_model()
        .objects.filter(memberships__project=project, username__in=names)
        .exclude(pk=activity.actor_id or 0)
        .distinct()
    )
    notes = [Notification(user=u, activity=activity) for u in users]
    return Notification.objects.bulk_create(notes, ignore_conflicts=True)


def notifications_mark_read(*, user: AbstractBaseUser, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


MAX_COMMENT = 4000


def share_link_is_live(link: ShareLink) -> bool:
    return link.revoked_at is None and (link.expires_at is None or link.expires_at > timezone.now())


def character_comment(
    *,
    character: Character,
    text: str,
    user: AbstractBaseUser | None = None,
    access: Access | None = None,
) -> Activity:
    """A comment in the character's history, by a member who may annotate or by a guest whose
    share link allows comments. @mentions notify the members named."""
    project = character.project
    access = access_for(project=project, user=user, access=access)
    access.require(Action.ANNOTATE)
    if access.is_guest and not share_link_is_live(access.link):
        raise Denied("This share link has ended.")
    actor, actor_name = access.actor, access.actor_name
    text = clean_text(
        text, field="comment", required="Write something to comment.", limit=MAX_COMMENT
    )
    with transaction.atomic():
        activity = activity_record(
            project=project,
            actor=actor,
            actor_name=actor_name,
            verb="commented",
            target=character,
            character=character,
            text=text,
        )
        notify_mentions(project=project, activity=activity, text=text)
    return activity


def _owners_left(project: Project, excluding: Membership) -> int:
    return (
        Membership.objects.filter(project=project, role=Role.OWNER).exclude(pk=excluding.pk).count()
    )


def _lock_team(*, project: Project, user: AbstractBaseUser | None, pk: int) -> Membership:
    """Inside a transaction: lock the project row, so changes to its members run one at a time,
    then re-read the membership and the acting user's role under the lock. Two owners demoting
    each other at once otherwise each count the other as the owner left (PostgreSQL's READ
    COMMITTED), and both succeed."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    if not role_allows(membership_role(project=project, user=user), Action.MANAGE):
        raise Denied("Your role on this project does not allow that.")
    return Membership.objects.select_related("user").get(pk=pk)


def membership_add(
    *, project: Project, user: AbstractBaseUser | None, username: str, role: str
) -> Membership:
    require(project=project, user=user, action=Action.MANAGE)
    if role not in Role.values:
        raise ServiceError("Choose owner, editor, reviewer or viewer.")
    person = get_user_model().objects.filter(username=(username or "").strip()).first()
    if person is None:
        raise ServiceError("No user has that username. They need an account first.")
    if Membership.objects.filter(project=project, user=person).exists():
        raise ServiceError(
            f"{person.get_username()} is already a member; change their role instead."
        )
    with transaction.atomic():
        membership = Membership.objects.create(project=project, user=person, role=role)
        activity_record(
            project=project,
            actor=user,
            verb="added member",
            target=membership,
            member=person.get_username(),
            role=role,
        )
    return membership


def membership_set_role(
    *, membership: Membership, user: AbstractBaseUser | None, role: str
) -> Membership:
    project = membership.project
    require(project=project, user=user, action=Action.MANAGE)
    if role not in Role.values:
        raise ServiceError("Choose owner, editor, reviewer or viewer.")
    if membership.role == role:
        return membership
    with transaction.atomic():
        membership = _lock_team(project=project, user=user, pk=membership.pk)
        if membership.role == role:
            return membership
        if membership.role == Role.OWNER and not _owners_left(project, membership):
            raise ServiceError("A project needs at least one owner.")
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        activity_record(
            project=project,
            actor=user,
            verb="changed member role",
            target=membership,
            member=membership.user.get_username(),
            before=before,
            role=role,
        )
    return membership


def membership_remove(*, membership: Membership, user: AbstractBaseUser | None) -> None:
    """Remove a member. Access is checked on every request, so it ends at once."""
    project = membership.project
    require(project=project, user=user, action=Action.MANAGE)
    with transaction.atomic():
        membership = _lock_team(project=project, user=user, pk=membership.pk)
        if membership.role == Role.OWNER and not _owners_left(project, membership):
            raise ServiceError("A project needs at least one owner.")
        name = membership.user.get_username()
        membership.delete()
        activity_record(project=project, actor=user, verb="removed member", member=name)


# Names that already mean someone in the history: a guest taking one would read as them.
RESERVED_NAMES = {"inspection", "system", "guest"}
GUEST_MARK = re.compile(r"\s*\(\s*guest\s*\)\s*$")


def _name_key(name: str) -> str:
    """A name as a reader tells names apart: NFKC folds look-alikes (𝔬𝔩𝔦𝔳𝔢, ⓞⓛⓘⓥⓔ, full-width
    letters) to plain ones, as Django does for usernames; casefold ignores case; spaces and
    a typed "(guest)" do not make a name different."""
    return " ".join(GUEST_MARK.sub("", fold_name(name)).split())


def guest_name_clean(*, project: Project, name: str) -> str:
    """The name a guest gives, checked: it is always shown with "(guest)" after it, so a typed
    "(guest)" is dropped, and it may not be (or look like) the name of anyone who is or was a
    member here, or of the inspector. Raises ServiceError with words to show them."""
    name = GUEST_MARK.sub("", " ".join(clean_text(name, field="name").split()))
    key = _name_key(name)
    if not key:
        return ""
    members = get_user_model().objects.filter(memberships__project=project)
    taken = {_name_key(u) for u in members.values_list("username", flat=True)}
    taken |= {
        _name_key(n)
        for n in Activity.objects.filter(project=project, actor__isnull=False)
        .values_list("actor_name", flat=True)
        .distinct()
    }
    if key in taken or key in RESERVED_NAMES:
        raise ServiceError(
            f"“{name}” is already someone's name on this project. Choose another name, "
            "so nobody mistakes your comments for theirs."
        )
    return name


def share_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_link_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    permission: str,
    expires_at: datetime | None = None,
    password: str = "",
    label: str = "",
) -> tuple[ShareLink, str]:
    """A new share link and its token. The token is returned once and stored only as a hash."""
    require(project=project, user=user, action=Action.MANAGE)
    if permission not in ShareLink.Permission.values:
        raise ServiceError("A share link lets people view, or view and comment.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("The expiry must be in the future.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ShareLink.objects.create(
            project=project,
            label=label[:120],
            token_hash=share_token_hash(token),
            permission=permission,
            expires_at=expires_at,
            password=make_password(password) if password else "",
            created_by=user if user is not None and user.is_authenticated else None,
        )
        activity_record(
            project=project,
            actor=user,
            verb="created share link",
            target=link,
            permission=permission,
            expires_at=expires_at.isoformat() if expires_at else None,
            password=bool(password),
        )
    return link, token


def share_link_revoke(*, link: ShareLink, user: AbstractBaseUser | None) -> ShareLink:
    require(project=link.project, user=user, action=Action.MANAGE)
    if link.revoked_at is None:
        with transaction.atomic():
            ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            activity_record(
                project=link.project, actor=user, verb="revoked share link", target=link
            )
        link.refresh_from_db()
    return link


def share_link_find(token: str) -> ShareLink | None:
    if not token or len(token) > 100:
        return None
    return (
        ShareLink.objects.select_related("project")
        .filter(token_hash=share_token_hash(token))
        .first()
    )


def share_link_check_password(link: ShareLink, password: str) -> bool:
    return not link.password or check_password(password or "", link.password)


def share_link_record_use(*, link: ShareLink, guest_name: str = "") -> None:
    """Count one use of the link: called once per session that opens it, not per request."""
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(
            use_count=F("use_count") + 1, last_used_at=timezone.now()
        )
        activity_record(
            project=link.project,
            actor=None,
            actor_name=f"{guest_name} (guest)" if guest_name else "guest",
            verb="opened share link",
            target=link,
            permission=link.permission,
        )


# --- invites: join a project with a role, with or without an account ---------------------------

INVITE_DAYS = 7


@dataclass(frozen=True)
class Invited:
    """What inviting someone did: added an existing account, or made an invite (token once)."""

    membership: Membership | None = None
    invite: Invite | None = None
    token: str = ""


def membership_invite(
    *, project: Project, user: AbstractBaseUser | None, who: str, role: str
) -> Invited:
    """Add a person by username or e-mail address. Someone with an account is added at once;
    an address with no account gets an invite (single use, expiring, stored as a hash)."""
    require(project=project, user=user, action=Action.MANAGE)
    who = clean_text(who, field="username or e-mail address", limit=254)
    if role not in Role.values:
        raise ServiceError("Choose owner, editor, reviewer or viewer.")
    users = get_user_model().objects
    person = users.filter(username=who).first() or (
        users.filter(email__iexact=who).order_by("pk").first() if "@" in who else None
    )
    if person is not None:
        return Invited(
            membership=membership_add(
                project=project, user=user, username=person.get_username(), role=role
            )
        )
    if "@" not in who:
        raise ServiceError(
            "No user has that username. To invite someone without an account, "
            "enter their e-mail address."
        )
    try:
        validate_email(who)
    except ValidationError as exc:
        raise ServiceError("That e-mail address does not look right.") from exc
    invite, token = invite_create(project=project, user=user, email=who, role=role)
    return Invited(invite=invite, token=token)


def invite_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    role: str,
    email: str = "",
    days: int = INVITE_DAYS,
) -> tuple[Invite, str]:
    """A new invite and its token. The token is returned once and stored only as a hash."""
    require(project=project, user=user, action=Action.MANAGE)
    if role not in Role.values:
        raise ServiceError("Choose owner, editor, reviewer or viewer.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invite = Invite.objects.create(
            project=project,
            email=email,
            role=role,
            token_hash=share_token_hash(token),
            created_by=user if user is not None and user.is_authenticated else None,
            expires_at=timezone.now() + timedelta(days=days),
        )
        activity_record(
            project=project, actor=user, verb="invited", target=invite, member=email, role=role
        )
    return invite, token


def invite_send(*, invite: Invite, link: str) -> None:
    """Mail the invite link through Django's mail settings (the console backend by default)."""
    inviter = invite.created_by.get_username() if invite.created_by else "Someone"
    send_mail(
        subject=f"{inviter} invited you to {invite.project.name} on Turnaround",
        message=(
            f"{inviter} invited you to join the project {invite.project.name} as "
            f"{invite.get_role_display().lower()}.\n\nOpen this link to create your account "
            f"(or log in) and join:\n{link}\n\n"
            f"The link works once and expires on {invite.expires_at:%d %b %Y}."
        ),
        from_email=None,
        recipient_list=[invite.email],
    )


def invite_find(token: str) -> Invite | None:
    if not token or len(token) > 100:
        return None
    return (
        Invite.objects.select_related("project", "created_by")
        .filter(token_hash=share_token_hash(token))
        .first()
    )


def invite_problem(invite: Invite) -> str:
    """Why an invite no longer works, in words; empty when it does."""
    if invite.used_at is not None:
        return "This invite has been used already. Ask the project's owner for a new one."
    if invite.revoked_at is not None:
        return "This invite was withdrawn. Ask the project's owner for a new one."
    if invite.expires_at <= timezone.now():
        return "This invite has expired. Ask the project's owner for a new one."
    return ""


def invite_accept(*, invite: Invite, user: AbstractBaseUser) -> Membership:
    """Join the project with the invite's role. Single use: two tabs cannot both use it."""
    with transaction.atomic():
        invite = Invite.objects.select_for_update().select_related("project").get(pk=invite.pk)
        problem = invite_problem(invite)
        if problem:
            raise ServiceError(problem)
        now = timezone.now()
        Invite.objects.filter(pk=invite.pk).update(used_at=now, used_by=user)
        membership = Membership.objects.filter(project=invite.project, user=user).first()
        if membership is not None:
            return membership  # already in: the invite is spent, the role they have stays
        membership = Membership.objects.create(project=invite.project, user=user, role=invite.role)
        activity_record(
            project=invite.project,
            actor=user,
            verb="joined by invite",
            target=membership,
            member=user.get_username(),
            role=invite.role,
        )
    return membership
