"""Read queries shared by views: one place for select_related/prefetch, so pages stay O(1) in queries."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet, Sum
from django.http import Http404

from .models import (
    Activity,
    CastingCandidate,
    Character,
    Generation,
    Panel,
    Project,
    SheetOption,
    Vote,
)


def projects_for(user: AbstractBaseUser) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def project_for(user: AbstractBaseUser, slug: str) -> Project:
    """The project, if the user may see it; anything else is a 404, never a 403."""
    project = projects_for(user).filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    return project


def board_characters(project: Project) -> QuerySet[Character]:
    return (
        Character.objects.filter(project=project)
        .select_related("locked_candidate__image", "locked_candidate__image_4k")
        .order_by("name")
    )


def character_for(project: Project, slug: str) -> Character:
    character = (
        Character.objects.filter(project=project, slug=slug)
        .select_related(
            "project",
            "locked_candidate__image",
            "locked_candidate__image_4k",
            "locked_candidate__generation",
            "locked_candidate__upscale_generation",
            "locked_candidate__decided_by",
            "locked_sheet__image",
            "locked_sheet__generation",
            "locked_sheet__locked_by",
        )
        .first()
    )
    if character is None:
        raise Http404("No such character.")
    return character


def candidates_for(character: Character) -> QuerySet[CastingCandidate]:
    return (
        CastingCandidate.objects.filter(character=character)
        .select_related("generation", "image", "image_4k", "decided_by", "upscale_generation")
        .prefetch_related(prefetch_votes())
        .order_by("created_at", "id")
    )


def candidate_for(character: Character, pk: int) -> CastingCandidate:
    candidate = candidates_for(character).filter(pk=pk).first()
    if candidate is None:
        raise Http404("No such candidate.")
    return candidate


def character_history(character: Character, limit: int = 30) -> QuerySet[Activity]:
    return Activity.objects.filter(character=character).select_related("actor")[:limit]


def spend_by_stage(character: Character) -> list[dict]:
    return list(
        Generation.objects.filter(character=character, cost_usd__isnull=False)
        .values("stage", "provider")
        .annotate(total=Sum("cost_usd"))
        .order_by("stage", "provider")
    )


def prefetch_votes() -> Prefetch:
    return Prefetch("votes", queryset=Vote.objects.select_related("user").order_by("created_at"))


def prefetch_candidates() -> Prefetch:
    return Prefetch("candidates", queryset=CastingCandidate.objects.select_related("generation"))


def sheet_options_for(character: Character) -> QuerySet[SheetOption]:
    return (
        SheetOption.objects.filter(character=character)
        .select_related("generation", "image", "locked_by")
        .prefetch_related(Prefetch("panels", queryset=Panel.objects.select_related("preview")))
        .prefetch_related(prefetch_votes())
        .order_by("index", "id")
    )


def sheet_option_for(character: Character, pk: int) -> SheetOption:
    option = sheet_options_for(character).filter(pk=pk).first()
    if option is None:
        raise Http404("No such sheet option.")
    return option


def panel_for(character: Character, pk: int) -> Panel:
    panel = (
        Panel.objects.filter(sheet__character=character, pk=pk)
        .select_related("sheet__character__project", "sheet__image", "preview", "crop")
        .first()
    )
    if panel is None:
        raise Http404("No such panel.")
    return panel
