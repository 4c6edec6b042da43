"""Read queries shared by views: one place for select_related/prefetch, so pages stay O(1) in queries."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from .generators import routing
from .models import (
    Activity,
    Annotation,
    CastingCandidate,
    Character,
    Generation,
    Panel,
    PanelRevision,
    Project,
    ReferenceAsset,
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


def character_history_by_slug(project: Project, slug: str, limit: int = 30) -> QuerySet[Activity]:
    """The same history, found by the character's slug within its project (one query)."""
    return Activity.objects.filter(project=project, character__slug=slug).select_related("actor")[
        :limit
    ]


def spend_by_stage(character: Character) -> list[dict]:
    return list(
        Generation.objects.filter(character=character, cost_usd__isnull=False)
        .values("stage", "provider")
        .annotate(total=Sum("cost_usd"))
        .order_by("stage", "provider")
    )


def prefetch_votes() -> Prefetch:
    return Prefetch("votes", queryset=Vote.objects.select_related("user").order_by("created_at"))


def sheet_options_for(character: Character, *, panels: bool = True) -> QuerySet[SheetOption]:
    """The character's sheet options; `panels=False` for their cards, which show no panel."""
    options = (
        SheetOption.objects.filter(character=character)
        .select_related("generation", "image", "locked_by")
        .prefetch_related(prefetch_votes())
        .order_by("index", "id")
    )
    if panels:
        options = options.prefetch_related(
            Prefetch("panels", queryset=Panel.objects.select_related("preview"))
        )
    return options


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


def panel_annotations(panel: Panel) -> list[Annotation]:
    """Top-level annotations with their replies, in two queries."""
    return list(
        Annotation.objects.filter(panel=panel, parent__isnull=True)
        .select_related("author", "revision", "resolved_by_revision")
        .prefetch_related(Prefetch("replies", queryset=Annotation.objects.select_related("author")))
        .order_by("created_at", "id")
    )


def panel_revisions(panel: Panel) -> list[PanelRevision]:
    return list(
        PanelRevision.objects.filter(panel=panel)
        .select_related("image", "created_by", "generation", "reverted_from")
        .order_by("-number")
    )


def pending_fixes(panel: Panel) -> list[Generation]:
    """Fixes on their way, and the ones that failed in the last day (with their reasons)."""
    recent = timezone.now() - timedelta(days=1)
    return list(
        Generation.objects.filter(stage="edit", parameters__panel=panel.pk)
        .filter(
            Q(status__in=["queued", "running"])
            | Q(status__in=["failed", "blocked"], created_at__gte=recent)
        )
        .order_by("-created_at")[:5]
    )


def inspections(queryset: QuerySet[Generation]) -> QuerySet[Generation]:
    """Inspections with how many of their findings are still open and whether a fix is on its way."""
    return queryset.filter(stage="inspect").annotate(
        open_found=Count(
            "found_annotations",
            filter=Q(found_annotations__status__in=["open", "reopened"]),
            distinct=True,
        ),
        fixing=Count("fix_batches", filter=Q(fix_batches__applied_at__isnull=True), distinct=True),
    )


def inspections_for(character: Character, limit: int = 5) -> list[Generation]:
    return list(
        inspections(Generation.objects.filter(character=character)).order_by("-created_at")[:limit]
    )


def locked_panels(character: Character) -> list[Panel]:
    if character.locked_sheet_id is None:
        return []
    return list(
        Panel.objects.filter(sheet_id=character.locked_sheet_id)
        .select_related("preview", "current_revision")
        .annotate(
            open_count=Count(
                "annotations",
                filter=Q(
                    annotations__parent__isnull=True, annotations__status__in=["open", "reopened"]
                ),
            )
        )
        .order_by("order", "id")
    )


def reference_assets_for(character: Character) -> list:
    """The character's current references in the video provider's asset library."""
    return list(
        ReferenceAsset.objects.filter(character=character, current=True).order_by(
            "provider", "order", "id"
        )
    )


def stage_routes() -> list[dict]:
    """Each stage, the provider settings route it to, and the one that will serve it (offline
    where that provider has no key): the settings page's routing table."""
    return [
        {
            "stage": stage,
            "configured": routing.configured_provider(stage),
            "provider": routing.provider_for(stage),
        }
        for stage in routing.STAGES
    ]
