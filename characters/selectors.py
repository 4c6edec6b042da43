"""Read queries shared by views: one place for select_related/prefetch, so pages stay O(1) in queries."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils import timezone

from .generators import routing
from .models import (
    Activity,
    Annotation,
    CastingCandidate,
    Character,
    Generation,
    IdentityScore,
    Membership,
    Panel,
    PanelRevision,
    Project,
    ReferenceAsset,
    SheetOption,
    Stage,
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


# What the character page shows of a character besides its own columns, read with it.
CHARACTER_PAGE_RELATED = (
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


def character_for(project: Project, slug: str) -> Character:
    character = (
        Character.objects.filter(project=project, slug=slug)
        .select_related(*CHARACTER_PAGE_RELATED)
        .first()
    )
    if character is None:
        raise Http404("No such character.")
    return character


def member_character(user: AbstractBaseUser, project_slug: str, slug: str) -> Character | None:
    """The character with its project and the user's role there (`member_role`, None for a
    non-member) in one query: a member's request on the character page needs nothing else."""
    role = Membership.objects.filter(project=OuterRef("project_id"), user=user).values("role")
    return (
        Character.objects.filter(project__slug=project_slug, slug=slug)
        .select_related(*CHARACTER_PAGE_RELATED)
        .annotate(member_role=Subquery(role[:1]))
        .first()
    )


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


# --- pending cards -----------------------------------------------------------------------------


@functools.cache
def _poll_sql(model: type) -> str:
    """One statement: the card's generation status, joined to the caller's membership of the
    project that owns the card (and, for character cards, to the character's slug)."""
    meta = model._meta
    table = connection.ops.quote_name
    project_t = table(Project._meta.db_table)
    generation_t = table(Generation._meta.db_table)
    membership_t = table(Membership._meta.db_table)
    joins = [f"JOIN {generation_t} g ON g.id = x.{meta.get_field('generation').column}"]
    where = ["x.id = %s"]
    if any(f.name == "character" for f in meta.fields):
        character_t = table(Character._meta.db_table)
        joins.append(f"JOIN {character_t} c ON c.id = x.{meta.get_field('character').column}")
        joins.append(f"JOIN {project_t} p ON p.id = c.project_id")
        where.append("c.slug = %s")
    else:
        joins.append(f"JOIN {project_t} p ON p.id = x.{meta.get_field('project').column}")
    joins.append(f"JOIN {membership_t} m ON m.project_id = p.id AND m.user_id = %s")
    where.append("p.slug = %s")
    # Built from model metadata only; every value from the request is a parameter.
    return (
        f"SELECT g.status FROM {table(meta.db_table)} x {' '.join(joins)} "  # noqa: S608
        f"WHERE {' AND '.join(where)}"
    )


def member_poll_status(
    *, model: type, user_id: int, project_slug: str, pk: int, character_slug: str = ""
) -> str | None:
    """The status of the generation behind a polled card, when user_id is a member of the
    project that owns it (every role may look); None otherwise (not a member, a guest, no such
    card), and the caller then takes the ordinary path that decides access and 404s.

    Pending cards ask this every second or two for minutes (a shot renders for ~2 minutes),
    so it is one prepared statement: no ORM query to compile on every poll."""
    params: list[object] = [user_id, pk]  # in the statement's order: the join, then WHERE
    if any(f.name == "character" for f in model._meta.fields):
        params.append(character_slug)
    params.append(project_slug)
    with connection.cursor() as cursor:
        cursor.execute(_poll_sql(model), params)
        row = cursor.fetchone()
    return row[0] if row else None


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


# --- identity and what locking cost ------------------------------------------------------------


def panel_identity_scores(panel: Panel) -> dict[int | None, IdentityScore]:
    """Every score a panel has, by revision id (None: the panel as it came off the sheet)."""
    return {s.revision_id: s for s in IdentityScore.objects.filter(panel=panel)}


def order_by_consistency(options: list[SheetOption], summaries: dict[int, dict]) -> list:
    """Most consistent first: fewest panels that may be someone else, then the smallest mean
    distance; options still measuring, or with no face at all, go last in their own order."""

    def key(option: SheetOption) -> tuple:
        s = summaries.get(option.pk) or {}
        if s.get("consistency") is None:
            return (1, 0, 0.0, option.index)
        return (0, len(s["flagged"]), s["consistency"], option.index)

    return sorted(options, key=key)


# Requests that ask a stage again: a second cast, another batch of sheets, a retry.
AGAIN_VERBS = ("cast candidates", "generated sheet options")
RETRY_VERB = "retried generation"


@dataclass
class CostToLock:
    """What it took from the first cast to the locked sheet (or so far, while not locked)."""

    character: Character
    started_at: datetime | None = None
    locked_at: datetime | None = None
    by_stage: dict[str, int] = field(default_factory=dict)
    rerolls: int = 0
    spend_usd: Decimal = Decimal(0)

    @property
    def locked(self) -> bool:
        return self.locked_at is not None

    @property
    def generations(self) -> int:
        return sum(self.by_stage.values())

    @property
    def minutes(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.locked_at or timezone.now()
        return round(max(0.0, (end - self.started_at).total_seconds()) / 60, 1)

    def stages(self) -> list[tuple[str, str, int]]:
        """(stage, label, generations) in pipeline order, stages with none left out."""
        return [
            (s.value, s.label, self.by_stage[s.value]) for s in Stage if s.value in self.by_stage
        ]

    def as_dict(self) -> dict:
        return {
            "character": self.character.slug,
            "name": self.character.name,
            "locked": self.locked,
            "first_cast_at": self.started_at.isoformat() if self.started_at else None,
            "locked_at": self.locked_at.isoformat() if self.locked_at else None,
            "minutes": self.minutes,
            "generations": self.generations,
            "generations_by_stage": dict(self.by_stage),
            "rerolls": self.rerolls,
            "spend_usd": str(self.spend_usd.quantize(Decimal("0.0001"))),
        }


def _costs_to_lock(characters: list[Character]) -> list[CostToLock]:
    """Three queries whatever the number of characters: their generations, their re-asks, and
    the characters themselves (passed in with locked_sheet loaded)."""
    rows = {c.pk: CostToLock(character=c) for c in characters}
    for row in rows.values():
        sheet = row.character.locked_sheet
        row.locked_at = sheet.locked_at if sheet is not None else None
    generations = Generation.objects.filter(character_id__in=rows).values_list(
        "character_id", "stage", "cost_usd", "created_at"
    )
    for character_id, stage, cost, created_at in generations.order_by("created_at", "id"):
        row = rows[character_id]
        if row.locked_at is not None and created_at > row.locked_at:
            continue  # made after the lock: fixes and shots, not the cost of locking
        if stage == Stage.CASTING and row.started_at is None:
            row.started_at = created_at
        row.by_stage[stage] = row.by_stage.get(stage, 0) + 1
        row.spend_usd += cost or Decimal(0)
    asks = Activity.objects.filter(
        character_id__in=rows, verb__in=[*AGAIN_VERBS, RETRY_VERB]
    ).values_list("character_id", "verb", "created_at")
    firsts: dict[tuple[int, str], bool] = {}
    for character_id, verb, created_at in asks.order_by("created_at", "id"):
        row = rows[character_id]
        if row.locked_at is not None and created_at > row.locked_at:
            continue
        if verb == RETRY_VERB or (character_id, verb) in firsts:
            row.rerolls += 1
        firsts[(character_id, verb)] = True
    return list(rows.values())


def cost_to_lock(character: Character) -> CostToLock:
    return _costs_to_lock([character])[0]


def project_costs_to_lock(project: Project) -> dict:
    """Every character's cost to lock, with the median over the locked ones and the totals."""
    characters = list(
        Character.objects.filter(project=project).select_related("locked_sheet").order_by("name")
    )
    rows = _costs_to_lock(characters)
    locked = [r for r in rows if r.locked]
    minutes = [r.minutes for r in locked if r.minutes is not None]
    return {
        "rows": rows,
        "locked": len(locked),
        "median": {
            "generations": median([r.generations for r in locked]) if locked else None,
            "rerolls": median([r.rerolls for r in locked]) if locked else None,
            "spend_usd": median([r.spend_usd for r in locked]) if locked else None,
            "minutes": round(median(minutes), 1) if minutes else None,
        },
        "total": {
            "generations": sum(r.generations for r in rows),
            "rerolls": sum(r.rerolls for r in rows),
            "spend_usd": sum((r.spend_usd for r in rows), Decimal(0)),
            "minutes": round(sum(r.minutes or 0 for r in locked), 1),
        },
    }
