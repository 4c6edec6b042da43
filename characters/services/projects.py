"""Projects and characters: creating them, editing a brief, budgets and spend."""

from __future__ import annotations

from decimal import Decimal

from anyascii import anyascii
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.text import slugify

from ..models import (
    Character,
    Generation,
    Membership,
    Project,
    Role,
)
from ..permissions import Action
from .core import BudgetExceeded, ServiceError, activity_record, require

# --- projects and characters -----------------------------------------------------------------


def project_create(*, name: str, owner: AbstractBaseUser, slug: str = "") -> Project:
    with transaction.atomic():
        project = Project.objects.create(name=name, slug=slug or slugify(name)[:60])
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        activity_record(project=project, actor=owner, verb="created project", target=project)
    return project


def _unique_slug(project: Project, name: str) -> str:
    # Transliterated first, so "Алёна" is "alena" and "王小明" is "wangxiaoming", not "character".
    base = slugify(anyascii(name))[:50] or "character"
    slug, n = base, 2
    while Character.objects.filter(project=project, slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def character_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    brief: str,
    wardrobe: str = "",
    distinguishing_marks: str = "",
    hand_props: str = "",
) -> Character:
    require(project=project, user=user, action=Action.EDIT_BRIEF)
    name = (name or "").strip()
    if character_name_taken(project=project, name=name):
        raise ServiceError(f"There is already a character called “{name}” in this project.")
    with transaction.atomic():
        character = Character.objects.create(
            project=project,
            name=name,
            slug=_unique_slug(project, name),
            brief=brief,
            wardrobe=wardrobe,
            distinguishing_marks=distinguishing_marks,
            hand_props=hand_props,
        )
        activity_record(
            project=project,
            actor=user,
            verb="created character",
            target=character,
            character=character,
        )
    return character


def character_name_taken(*, project: Project, name: str) -> bool:
    """Names are unique per project, whatever their case (a constraint enforces it too)."""
    return Character.objects.filter(project=project, name__iexact=name.strip()).exists()


def character_archive(
    *, character: Character, user: AbstractBaseUser | None, archived: bool = True
) -> Character:
    """Archive (or restore) a character: it leaves the board and the shot form, and nothing
    new is made for it (generations_create refuses); nothing is deleted, and its page,
    references and history stay where they were."""
    require(project=character.project, user=user, action=Action.EDIT_BRIEF)
    if (character.archived_at is not None) == archived:
        return character
    with transaction.atomic():
        character.archived_at = timezone.now() if archived else None
        character.save(update_fields=["archived_at", "updated_at"])
        activity_record(
            project=character.project,
            actor=user,
            verb="archived character" if archived else "restored character",
            target=character,
            character=character,
        )
    return character


BRIEF_FIELDS = ("brief", "wardrobe", "distinguishing_marks", "hand_props")


def character_update_brief(
    *, character: Character, user: AbstractBaseUser | None, **fields: str
) -> Character:
    require(project=character.project, user=user, action=Action.EDIT_BRIEF)
    changed = {k: v for k, v in fields.items() if k in BRIEF_FIELDS and getattr(character, k) != v}
    if not changed:
        return character
    before = {key: getattr(character, key) for key in changed}
    with transaction.atomic():
        for key, value in changed.items():
            setattr(character, key, value)
        character.save(update_fields=[*changed, "updated_at"])
        activity_record(
            project=character.project,
            actor=user,
            verb="edited brief",
            target=character,
            character=character,
            fields=sorted(changed),
            # what changed, so the history can show it as a before/after diff
            changes={key: [before[key], changed[key]] for key in sorted(changed)},
        )
    return character


# --- spend -----------------------------------------------------------------------------------


def project_committed_spend(project: Project) -> Decimal:
    """Spent plus what queued and running work is expected to cost."""
    totals = Generation.objects.filter(project=project).aggregate(
        spent=Sum("cost_usd", filter=Q(cost_usd__isnull=False)),
        pending=Sum("estimated_cost_usd", filter=Q(status__in=["queued", "running"])),
    )
    return (totals["spent"] or Decimal(0)) + (totals["pending"] or Decimal(0))


def _check_budget(project: Project, extra: Decimal) -> None:
    if project.budget_usd is None or extra <= 0:
        return
    committed = project_committed_spend(project)
    if committed + extra > project.budget_usd:
        raise BudgetExceeded(
            f"This would take the project past its ${project.budget_usd:,.2f} budget "
            f"(${committed:,.2f} spent or queued, this needs about ${extra:,.2f}). "
            "An owner can raise the cap in project settings."
        )


def project_set_budget(
    *, project: Project, user: AbstractBaseUser | None, budget_usd: Decimal | None
) -> Project:
    require(project=project, user=user, action=Action.MANAGE)
    if budget_usd is not None and budget_usd < 0:
        raise ServiceError("A budget cap cannot be negative.")
    before = project.budget_usd
    project.budget_usd = budget_usd
    project.save(update_fields=["budget_usd"])
    activity_record(
        project=project,
        actor=user,
        verb="changed budget cap",
        target=project,
        before=str(before) if before is not None else None,
        after=str(budget_usd) if budget_usd is not None else None,
    )
    return project
