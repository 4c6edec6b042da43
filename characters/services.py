"""Every state change in Turnaround: <entity>_<action>, keyword-only, transaction-aware.

Services check the invariant, write the rows, record the decision in Activity, and enqueue
background work on commit. Views call services; they never change state themselves.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.text import slugify

from . import imaging, prompts
from .generators.base import GenerationRequest
from .generators.routing import get_generator, provider_for
from .layouts import UnknownPreset, get_preset
from .models import (
    Activity,
    Annotation,
    Asset,
    CastingCandidate,
    Character,
    ContinuityRule,
    Generation,
    Membership,
    Notification,
    Panel,
    PanelRevision,
    Project,
    Role,
    ShareLink,
    SheetOption,
    Shot,
    ShotCharacter,
    ShotRender,
    Stage,
    Vote,
)
from .permissions import Action, Denied, role_allows
from .storage import asset_read, asset_store

MAX_CANDIDATES = 8
MIN_CANDIDATES = 1


class ServiceError(Exception):
    """A request the product refuses, with the reason in words a producer understands."""


class BudgetExceeded(ServiceError):
    pass


# --- access ----------------------------------------------------------------------------------


def membership_role(*, project: Project, user: AbstractBaseUser | None) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def require(*, project: Project, user: AbstractBaseUser | None, action: Action) -> None:
    if not role_allows(membership_role(project=project, user=user), action):
        raise Denied("Your role on this project does not allow that.")


# --- activity --------------------------------------------------------------------------------


def activity_record(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    verb: str,
    target: object | None = None,
    character: Character | None = None,
    actor_name: str = "",
    **data: object,
) -> Activity:
    return Activity.objects.create(
        project=project,
        character=character,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=actor_name
        or (actor.get_username() if actor is not None and actor.is_authenticated else "system"),
        verb=verb,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=getattr(target, "pk", None),
        data=data,
    )


# --- projects and characters -----------------------------------------------------------------


def project_create(*, name: str, owner: AbstractBaseUser, slug: str = "") -> Project:
    with transaction.atomic():
        project = Project.objects.create(name=name, slug=slug or slugify(name)[:60])
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        activity_record(project=project, actor=owner, verb="created project", target=project)
    return project


def _unique_slug(project: Project, name: str) -> str:
    base = slugify(name)[:50] or "character"
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


BRIEF_FIELDS = ("brief", "wardrobe", "distinguishing_marks", "hand_props")


def character_update_brief(
    *, character: Character, user: AbstractBaseUser | None, **fields: str
) -> Character:
    require(project=character.project, user=user, action=Action.EDIT_BRIEF)
    changed = {k: v for k, v in fields.items() if k in BRIEF_FIELDS and getattr(character, k) != v}
    if not changed:
        return character
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


# --- generations -----------------------------------------------------------------------------


def _deadline() -> timedelta:
    return timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 900)))


def generation_create(
    *,
    project: Project,
    character: Character | None,
    stage: str,
    prompt: str,
    user: AbstractBaseUser | None,
    parameters: dict | None = None,
    reference_ids: list[str] | None = None,
    seed: int | None = None,
) -> Generation:
    """A queued Generation for the stage's routed provider; the task is enqueued on commit."""
    provider = provider_for(stage)
    generator = get_generator(provider)
    params = parameters or {}
    try:
        estimate = generator.estimate_cost(
            GenerationRequest(
                stage=stage,
                prompt=prompt,
                seed=seed,
                options=params,
                width=params.get("width"),
                height=params.get("height"),
                image_size=params.get("image_size"),
                aspect_ratio=params.get("aspect_ratio"),
            )
        )
        model = generator.model_for(stage)
    finally:
        generator.close()
    _check_budget(project, estimate)
    generation = Generation.objects.create(
        project=project,
        character=character,
        stage=stage,
        provider=provider,
        model=model,
        prompt=prompt,
        parameters=params,
        reference_ids=reference_ids or [],
        seed=seed if seed is not None else random.randint(0, 2**31 - 1),
        estimated_cost_usd=estimate,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    generation_enqueue(generation=generation)
    return generation


def generation_enqueue(*, generation: Generation) -> None:
    from .tasks import enqueue_generation

    transaction.on_commit(lambda: enqueue_generation(generation.pk))


def generation_claim(*, generation_id: int) -> Generation | None:
    """Move a generation to running for this worker, or None when another has it or it is done.

    A generation still `running` past its deadline belonged to a worker that died: it can be
    claimed again. The conditional UPDATE is the lock, so two workers never both run one.
    """
    now = timezone.now()
    claimed = Generation.objects.filter(
        Q(status=Generation.Status.QUEUED)
        | Q(status=Generation.Status.RUNNING, deadline_at__lt=now),
        pk=generation_id,
    ).update(
        status=Generation.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        deadline_at=now + _deadline(),
    )
    if not claimed:
        return None
    return Generation.objects.select_related("project", "character").get(pk=generation_id)


def generation_requeue_stuck(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Find work a broker lost and hand it back; give up on work that keeps killing workers.

    The Redis broker forgets a task whose worker died. A generation `running` past its deadline
    (its worker stopped) goes back to `queued`, unless it has used its attempts: then it fails
    with a reason. A generation `queued` for longer than the grace with no worker taking it is
    enqueued again. `deadline_at` on a queued generation is when to look at it next, so a
    slow queue is not flooded with copies. Claiming stays the only lock: a copy that arrives
    late finds the generation running or final and does nothing.

    Returns (ids to enqueue, ids given up on).
    """
    now = now or timezone.now()
    cap = settings.TURNAROUND_MAX_ATTEMPTS
    grace = timedelta(seconds=settings.TURNAROUND_REQUEUE_AFTER)
    dead = Generation.objects.filter(status=Generation.Status.RUNNING, deadline_at__lt=now)
    gave_up = list(dead.filter(attempts__gte=cap).values_list("pk", flat=True))
    for pk in gave_up:
        Generation.objects.filter(
            pk=pk, status=Generation.Status.RUNNING, deadline_at__lt=now
        ).update(
            status=Generation.Status.FAILED,
            error=f"Gave up after {cap} attempts: the worker stopped each time. Try again, "
            "and if it keeps happening tell whoever runs Turnaround.",
            finished_at=now,
        )
    requeue = list(dead.filter(attempts__lt=cap).values_list("pk", flat=True))
    requeue += Generation.objects.filter(
        Q(deadline_at__isnull=True, created_at__lt=now - grace) | Q(deadline_at__lt=now),
        status=Generation.Status.QUEUED,
    ).values_list("pk", flat=True)
    enqueue = []
    for pk in requeue:
        moved = Generation.objects.filter(
            Q(status=Generation.Status.RUNNING, attempts__lt=cap)
            | Q(status=Generation.Status.QUEUED),
            Q(deadline_at__lt=now) | Q(deadline_at__isnull=True),
            pk=pk,
        ).update(status=Generation.Status.QUEUED, deadline_at=now + grace)
        if moved:
            enqueue.append(pk)
    return enqueue, gave_up


def generation_fail(*, generation: Generation, reason: str, blocked: bool = False) -> None:
    status = Generation.Status.BLOCKED if blocked else Generation.Status.FAILED
    Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(
        status=status, error=reason[:2000], finished_at=timezone.now()
    )


def generation_retry(*, generation: Generation, user: AbstractBaseUser | None) -> Generation:
    require(project=generation.project, user=user, action=Action.GENERATE)
    with transaction.atomic():
        _check_budget(generation.project, generation.estimated_cost_usd)
        updated = Generation.objects.filter(
            pk=generation.pk, status__in=[Generation.Status.FAILED, Generation.Status.CANCELLED]
        ).update(
            status=Generation.Status.QUEUED,
            error="",
            finished_at=None,
            started_at=None,
            deadline_at=None,
        )
        if not updated:
            raise ServiceError("Only a failed generation can be retried.")
        activity_record(
            project=generation.project,
            actor=user,
            verb="retried generation",
            target=generation,
            character=generation.character,
            stage=generation.stage,
        )
        generation_enqueue(generation=generation)
    generation.refresh_from_db()
    return generation


# --- casting ---------------------------------------------------------------------------------


def casting_start(
    *, character: Character, user: AbstractBaseUser | None, count: int = 4
) -> list[CastingCandidate]:
    require(project=character.project, user=user, action=Action.GENERATE)
    if not MIN_CANDIDATES <= count <= MAX_CANDIDATES:
        raise ServiceError(
            f"Cast between {MIN_CANDIDATES} and {MAX_CANDIDATES} candidates at a time."
        )
    if character.locked_candidate_id is not None:
        raise ServiceError("The face is locked. Unlock it before casting more candidates.")
    prompt = prompts.casting_prompt(character)
    candidates = []
    with transaction.atomic():
        for _ in range(count):
            generation = generation_create(
                project=character.project,
                character=character,
                stage=Stage.CASTING,
                prompt=prompt,
                user=user,
                parameters={"aspect_ratio": "3:4", "subject": prompts.casting_subject(character)},
            )
            candidates.append(
                CastingCandidate.objects.create(character=character, generation=generation)
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="cast candidates",
            target=character,
            character=character,
            count=count,
        )
    return candidates


def candidate_decide(
    *, candidate: CastingCandidate, user: AbstractBaseUser | None, decision: str
) -> CastingCandidate:
    """Shortlist, reject, or return a candidate to pending. Approval has its own service."""
    character = candidate.character
    require(project=character.project, user=user, action=Action.DECIDE)
    allowed = {
        CastingCandidate.Decision.SHORTLISTED,
        CastingCandidate.Decision.REJECTED,
        CastingCandidate.Decision.PENDING,
    }
    if decision not in allowed:
        raise ServiceError("That is not a decision a candidate can take.")
    with transaction.atomic():
        candidate = CastingCandidate.objects.select_for_update().get(pk=candidate.pk)
        if candidate.decision == CastingCandidate.Decision.APPROVED:
            raise ServiceError("This face is locked. Unlock it first, with a reason.")
        if candidate.generation.status != Generation.Status.SUCCEEDED:
            raise ServiceError("Only a finished portrait can be shortlisted or rejected.")
        if candidate.decision == decision:
            return candidate
        candidate.decision = decision
        candidate.decided_by = user if user is not None and user.is_authenticated else None
        candidate.decided_at = timezone.now()
        candidate.save(update_fields=["decision", "decided_by", "decided_at"])
        activity_record(
            project=character.project,
            actor=user,
            verb=f"{decision} candidate"
            if decision != "pending"
            else "cleared decision on candidate",
            target=candidate,
            character=character,
        )
    return candidate


def candidate_approve(
    *, candidate: CastingCandidate, user: AbstractBaseUser | None
) -> CastingCandidate:
    """Lock the face: approve one candidate, queue its 4K upscale, advance the revision."""
    character = candidate.character
    require(project=character.project, user=user, action=Action.DECIDE)
    try:
        with transaction.atomic():
            character = Character.objects.select_for_update().get(pk=character.pk)
            candidate = CastingCandidate.objects.select_related("generation").get(pk=candidate.pk)
            if candidate.character_id != character.pk:
                raise ServiceError("That candidate belongs to another character.")
            if candidate.decision == CastingCandidate.Decision.APPROVED:
                raise ServiceError("This candidate is already approved; the face is locked.")
            if character.locked_candidate_id is not None:
                raise ServiceError(
                    "Another candidate was approved a moment ago; the face is already locked. "
                    "Unlock it first if you want to change it."
                )
            if (
                candidate.generation.status != Generation.Status.SUCCEEDED
                or candidate.image_id is None
            ):
                raise ServiceError("Only a finished portrait can be approved.")
            now = timezone.now()
            candidate.decision = CastingCandidate.Decision.APPROVED
            candidate.decided_by = user if user is not None and user.is_authenticated else None
            candidate.decided_at = now
            candidate.save(update_fields=["decision", "decided_by", "decided_at"])
            character.locked_candidate = candidate
            character.reference_revision = F("reference_revision") + 1
            character.save(update_fields=["locked_candidate", "reference_revision", "updated_at"])
            character.refresh_from_db(fields=["reference_revision"])
            upscale = generation_create(
                project=character.project,
                character=character,
                stage=Stage.UPSCALE,
                prompt="",
                user=user,
                parameters={"target": settings.TURNAROUND_UPSCALE_TARGET},
                reference_ids=[f"asset:{candidate.image_id}"],
            )
            candidate.upscale_generation = upscale
            candidate.save(update_fields=["upscale_generation"])
            activity_record(
                project=character.project,
                actor=user,
                verb="approved face",
                target=candidate,
                character=character,
                revision=character.reference_revision,
                tally=vote_tally(candidate=candidate),
            )
    except IntegrityError as exc:
        # The conditional unique constraint caught a simultaneous approval.
        raise ServiceError(
            "Another candidate was approved at the same moment; the face is already locked."
        ) from exc
    candidate.refresh_from_db()
    return candidate


def character_unlock_face(
    *, character: Character, user: AbstractBaseUser | None, reason: str
) -> Character:
    require(project=character.project, user=user, action=Action.DECIDE)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why the face is being unlocked; the reason is kept in the history.")
    with transaction.atomic():
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.locked_candidate_id is None:
            raise ServiceError("The face is not locked.")
        if character.locked_sheet_id is not None:
            raise ServiceError(
                "The turnaround sheet is locked on this face. Unlock the sheet first."
            )
        candidate = CastingCandidate.objects.get(pk=character.locked_candidate_id)
        candidate.decision = CastingCandidate.Decision.SHORTLISTED
        candidate.decided_by = user if user is not None and user.is_authenticated else None
        candidate.decided_at = timezone.now()
        candidate.save(update_fields=["decision", "decided_by", "decided_at"])
        character.locked_candidate = None
        character.reference_revision = F("reference_revision") + 1
        character.save(update_fields=["locked_candidate", "reference_revision", "updated_at"])
        character.refresh_from_db()
        activity_record(
            project=character.project,
            actor=user,
            verb="unlocked face",
            target=candidate,
            character=character,
            reason=reason,
            revision=character.reference_revision,
        )
    return character


# --- sheets ----------------------------------------------------------------------------------

MAX_SHEET_OPTIONS = 8
# Output pixels per (aspect ratio, size) for Nano Banana Pro; the offline generator draws the same.
SHEET_SIZES = {
    ("16:9", "4K"): (5504, 3072),
    ("16:9", "2K"): (2752, 1536),
    ("16:9", "1K"): (1376, 768),
    ("21:9", "4K"): (6336, 2688),
    ("4:3", "4K"): (4800, 3584),
    ("1:1", "4K"): (4096, 4096),
}


def character_rules(character: Character) -> list[str]:
    return list(character.rules.order_by("created_at", "id").values_list("text", flat=True))


def sheet_generate(
    *,
    character: Character,
    user: AbstractBaseUser | None,
    count: int = 4,
    preset: str | None = None,
) -> list[SheetOption]:
    """Queue `count` sheet options from the locked 4K face, each its own generation."""
    require(project=character.project, user=user, action=Action.GENERATE)
    if not 1 <= count <= MAX_SHEET_OPTIONS:
        raise ServiceError(f"Make between 1 and {MAX_SHEET_OPTIONS} sheet options at a time.")
    try:
        layout = get_preset(preset or settings.TURNAROUND_SHEET_PRESET)
    except UnknownPreset as exc:
        raise ServiceError(str(exc)) from exc
    with transaction.atomic():
        character = Character.objects.select_for_update().get(pk=character.pk)
        candidate = (
            CastingCandidate.objects.select_related("generation", "image_4k")
            .filter(pk=character.locked_candidate_id)
            .first()
        )
        if candidate is None:
            raise ServiceError(
                "Lock a face first: sheets are made from the approved casting portrait."
            )
        if candidate.image_4k_id is None:
            raise ServiceError(
                "The 4K portrait is still being made (or failed); sheets start from it. "
                "Try again when it is ready."
            )
        rules = character_rules(character)
        ratio = settings.TURNAROUND_SHEET_ASPECT_RATIO
        size = settings.TURNAROUND_SHEET_IMAGE_SIZE
        width, height = SHEET_SIZES.get((ratio, size), SHEET_SIZES[("16:9", "4K")])
        start = SheetOption.objects.filter(character=character).aggregate(n=Max("index"))["n"] or 0
        prompt = prompts.sheet_prompt(character, layout, rules)
        options = []
        for i in range(count):
            generation = generation_create(
                project=character.project,
                character=character,
                stage=Stage.SHEET,
                prompt=prompt,
                user=user,
                parameters={
                    "preset": layout.name,
                    "aspect_ratio": ratio,
                    "image_size": size,
                    "width": width,
                    "height": height,
                    "subject": prompts.sheet_subject(character),
                    "face_seed": candidate.generation.seed,
                    "rules": rules,
                },
                reference_ids=[f"asset:{candidate.image_4k_id}"],
            )
            options.append(
                SheetOption.objects.create(
                    character=character,
                    generation=generation,
                    index=start + i + 1,
                    source_candidate=candidate,
                    preset=layout.name,
                )
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="generated sheet options",
            target=character,
            character=character,
            count=count,
            preset=layout.name,
        )
    return options


def sheet_store_split(*, option: SheetOption, sheet_bytes: bytes) -> SheetOption:
    """Split a finished sheet into its panels: boxes and previews (crops wait until needed)."""
    result = imaging.split_sheet(sheet_bytes, option.preset)
    project = option.character.project
    panels = []
    for order, found in enumerate(result.panels):
        preview = asset_store(project=project, data=found.preview, mime="image/webp", derive=False)
        panels.append(
            Panel(
                sheet=option,
                kind=found.kind,
                order=order,
                x=found.x,
                y=found.y,
                w=found.w,
                h=found.h,
                detected=found.detected,
                preview=preview,
            )
        )
    with transaction.atomic():
        option.panels.all().delete()
        Panel.objects.bulk_create(panels)
        option.split_method = result.method
        if option.status == SheetOption.Status.PENDING:
            option.status = SheetOption.Status.READY
        option.save(update_fields=["split_method", "status"])
    return option


def sheet_resplit(*, option: SheetOption, user: AbstractBaseUser | None) -> SheetOption:
    require(project=option.character.project, user=user, action=Action.DECIDE)
    if option.image_id is None:
        raise ServiceError("This sheet option has no image yet.")
    if option.status == SheetOption.Status.LOCKED:
        raise ServiceError(
            "Unlock the sheet before re-splitting it; its panels are the locked references."
        )
    sheet_store_split(option=option, sheet_bytes=asset_read(option.image))
    activity_record(
        project=option.character.project,
        actor=user,
        verb="re-split sheet",
        target=option,
        character=option.character,
        method=option.split_method,
    )
    return option


def sheet_lock(*, option: SheetOption, user: AbstractBaseUser | None) -> SheetOption:
    """Lock one sheet option as the character's references; at most one per character."""
    character = option.character
    require(project=character.project, user=user, action=Action.DECIDE)
    try:
        with transaction.atomic():
            character = Character.objects.select_for_update().get(pk=character.pk)
            option = SheetOption.objects.select_related("generation").get(pk=option.pk)
            if option.character_id != character.pk:
                raise ServiceError("That sheet belongs to another character.")
            if option.status == SheetOption.Status.LOCKED:
                raise ServiceError("This sheet is already locked.")
            if character.locked_sheet_id is not None:
                raise ServiceError(
                    "Another sheet option was locked a moment ago. Unlock it first, with a "
                    "reason, if this one should replace it."
                )
            if option.status != SheetOption.Status.READY or option.image_id is None:
                raise ServiceError("Only a finished, split sheet can be locked.")
            if option.source_candidate_id != character.locked_candidate_id:
                raise ServiceError("This sheet was made from a face that is no longer locked.")
            option.status = SheetOption.Status.LOCKED
            option.locked_by = user if user is not None and user.is_authenticated else None
            option.locked_at = timezone.now()
            option.save(update_fields=["status", "locked_by", "locked_at"])
            character.locked_sheet = option
            character.reference_revision = F("reference_revision") + 1
            character.save(update_fields=["locked_sheet", "reference_revision", "updated_at"])
            character.refresh_from_db(fields=["reference_revision"])
            activity_record(
                project=character.project,
                actor=user,
                verb="locked sheet",
                target=option,
                character=character,
                index=option.index,
                revision=character.reference_revision,
                tally=vote_tally(sheet=option),
            )
    except IntegrityError as exc:
        raise ServiceError(
            "Another sheet option was locked at the same moment; only one can be locked."
        ) from exc
    option.refresh_from_db()
    return option


def sheet_unlock(*, character: Character, user: AbstractBaseUser | None, reason: str) -> Character:
    require(project=character.project, user=user, action=Action.DECIDE)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            "Say why the sheet is being unlocked; the reason is kept in the history."
        )
    with transaction.atomic():
        character = Character.objects.select_for_update().get(pk=character.pk)
        if character.locked_sheet_id is None:
            raise ServiceError("No sheet is locked.")
        option = SheetOption.objects.get(pk=character.locked_sheet_id)
        option.status = SheetOption.Status.READY
        option.save(update_fields=["status"])
        character.locked_sheet = None
        character.reference_revision = F("reference_revision") + 1
        character.save(update_fields=["locked_sheet", "reference_revision", "updated_at"])
        character.refresh_from_db()
        activity_record(
            project=character.project,
            actor=user,
            verb="unlocked sheet",
            target=option,
            character=character,
            reason=reason,
            revision=character.reference_revision,
        )
    return character


MIN_PANEL_SIDE = 16


def panel_set_box(
    *, panel: Panel, user: AbstractBaseUser | None, x: int, y: int, w: int, h: int
) -> Panel:
    """Correct a panel's box by hand; its preview is remade and its crop recut when next needed."""
    option = panel.sheet
    character = option.character
    require(project=character.project, user=user, action=Action.DECIDE)
    image = option.image
    if image is None:
        raise ServiceError("This sheet has no image yet.")
    if w < MIN_PANEL_SIDE or h < MIN_PANEL_SIDE:
        raise ServiceError(f"A panel must be at least {MIN_PANEL_SIDE} pixels on each side.")
    if x < 0 or y < 0 or x + w > image.width or y + h > image.height:
        raise ServiceError(
            f"The box must lie inside the sheet ({image.width}×{image.height} pixels)."
        )
    preview_bytes = imaging.make_panel_preview(asset_read(image), (x, y, w, h))
    preview = asset_store(
        project=character.project, data=preview_bytes, mime="image/webp", derive=False
    )
    with transaction.atomic():
        before = [panel.x, panel.y, panel.w, panel.h]
        Panel.objects.filter(pk=panel.pk).update(
            x=x, y=y, w=w, h=h, preview=preview, crop=None, detected=False
        )
        if option.status == SheetOption.Status.LOCKED:
            Character.objects.filter(pk=character.pk).update(
                reference_revision=F("reference_revision") + 1
            )
        activity_record(
            project=character.project,
            actor=user,
            verb="corrected panel box",
            target=panel,
            character=character,
            panel=panel.kind,
            before=before,
            after=[x, y, w, h],
        )
    panel.refresh_from_db()
    return panel


def panel_crop(*, panel: Panel) -> Asset:
    """The full-resolution crop of a panel, cut from the sheet the first time it is needed."""
    if panel.crop_id is not None:
        return panel.crop
    option = panel.sheet
    data = imaging.crop_panel(asset_read(option.image), (panel.x, panel.y, panel.w, panel.h))
    crop = asset_store(project=option.character.project, data=data, mime="image/png", derive=False)
    Panel.objects.filter(pk=panel.pk, crop__isnull=True).update(crop=crop)
    panel.crop = crop
    return crop


# --- continuity: annotations and rules ---------------------------------------------------------


def _validate_region(x: float, y: float, w: float, h: float) -> None:
    values = (x, y, w, h)
    if any(v is None for v in values):
        raise ServiceError("Draw a box on the panel first.")
    if w <= 0 or h <= 0:
        raise ServiceError("The box has no size; drag to draw it.")
    if x < 0 or y < 0 or x + w > 1.0001 or y + h > 1.0001:
        raise ServiceError("The box must lie inside the panel.")


def _author_fields(user: AbstractBaseUser | None, guest_name: str) -> dict:
    if user is not None and user.is_authenticated:
        return {"author": user, "guest_name": ""}
    name = (guest_name or "").strip()
    if not name:
        raise ServiceError("Enter your name so the team knows who wrote this.")
    return {"author": None, "guest_name": name[:80]}


def annotation_create(
    *,
    panel: Panel,
    user: AbstractBaseUser | None,
    body: str,
    x: float,
    y: float,
    w: float,
    h: float,
    kind: str = "note",
    guest_name: str = "",
    found_by_inspection: bool = False,
    can_annotate: bool | None = None,
) -> Annotation:
    """A box drawn on a panel with a comment, tied to the panel revision it was drawn on."""
    character = panel.sheet.character
    if can_annotate is None:
        require(project=character.project, user=user, action=Action.ANNOTATE)
    elif not can_annotate:
        raise Denied("Your access to this project does not allow comments.")
    body = (body or "").strip()
    if not body:
        raise ServiceError("Write what is wrong or worth noting in the box.")
    if len(body) > 4000:
        raise ServiceError("Keep a note under 4,000 characters.")
    if kind not in Annotation.Kind.values:
        raise ServiceError("Choose note or continuity error.")
    _validate_region(x, y, w, h)
    author = (
        _author_fields(user, guest_name)
        if not found_by_inspection
        else {"author": None, "guest_name": "Inspection"}
    )
    with transaction.atomic():
        annotation = Annotation.objects.create(
            panel=panel,
            revision=panel.current_revision,
            body=body,
            kind=kind,
            x=min(max(x, 0.0), 1.0),
            y=min(max(y, 0.0), 1.0),
            w=min(w, 1.0),
            h=min(h, 1.0),
            found_by_inspection=found_by_inspection,
            **author,
        )
        activity = activity_record(
            project=character.project,
            actor=user,
            actor_name=author["guest_name"],
            verb="flagged continuity error"
            if kind == Annotation.Kind.CONTINUITY
            else "annotated panel",
            target=annotation,
            character=character,
            panel=panel.kind,
            text=body[:300],
        )
        notify_mentions(project=character.project, activity=activity, text=body)
    return annotation


def annotation_reply(
    *,
    parent: Annotation,
    user: AbstractBaseUser | None,
    body: str,
    guest_name: str = "",
    can_annotate: bool | None = None,
) -> Annotation:
    character = parent.panel.sheet.character
    if can_annotate is None:
        require(project=character.project, user=user, action=Action.ANNOTATE)
    elif not can_annotate:
        raise Denied("Your access to this project does not allow comments.")
    body = (body or "").strip()
    if not body:
        raise ServiceError("Write a reply first.")
    if parent.parent_id is not None:
        parent = parent.parent  # replies thread under the annotation, one level deep
    author = _author_fields(user, guest_name)
    with transaction.atomic():
        reply = Annotation.objects.create(
            panel=parent.panel,
            revision=parent.revision,
            parent=parent,
            body=body[:4000],
            kind=Annotation.Kind.NOTE,
            **author,
        )
        activity = activity_record(
            project=character.project,
            actor=user,
            actor_name=author["guest_name"],
            verb="replied",
            target=parent,
            character=character,
            text=body[:300],
        )
        notify_mentions(project=character.project, activity=activity, text=body)
    return reply


def annotation_set_status(
    *, annotation: Annotation, user: AbstractBaseUser | None, resolved: bool
) -> Annotation:
    character = annotation.panel.sheet.character
    require(project=character.project, user=user, action=Action.ANNOTATE)
    new = Annotation.Status.RESOLVED if resolved else Annotation.Status.REOPENED
    if annotation.parent_id is not None:
        raise ServiceError("Resolve the annotation itself, not a reply.")
    if annotation.status == new or (not resolved and annotation.status == Annotation.Status.OPEN):
        return annotation
    annotation.status = new
    annotation.save(update_fields=["status"])
    activity_record(
        project=character.project,
        actor=user,
        verb="resolved annotation" if resolved else "reopened annotation",
        target=annotation,
        character=character,
    )
    return annotation


def rule_create(
    *,
    character: Character,
    user: AbstractBaseUser | None,
    text: str,
    source: Annotation | None = None,
) -> ContinuityRule:
    """A continuity rule: added to every later sheet, edit and shot prompt."""
    require(project=character.project, user=user, action=Action.DECIDE)
    text = (text or "").strip()
    if not text:
        raise ServiceError("Write the rule, e.g. “no earbuds” or “scar on the left cheek”.")
    if len(text) > 300:
        raise ServiceError("Keep a rule under 300 characters.")
    if character.rules.filter(text__iexact=text).exists():
        raise ServiceError("That rule is already on this character.")
    rule = ContinuityRule.objects.create(
        character=character, text=text, source_annotation=source, created_by=user
    )
    activity_record(
        project=character.project,
        actor=user,
        verb="added rule",
        target=rule,
        character=character,
        text=text,
    )
    return rule


def rule_delete(*, rule: ContinuityRule, user: AbstractBaseUser | None) -> None:
    character = rule.character
    require(project=character.project, user=user, action=Action.DECIDE)
    text = rule.text
    rule.delete()
    activity_record(
        project=character.project, actor=user, verb="removed rule", character=character, text=text
    )


# --- continuity: inspection, fixes, revisions --------------------------------------------------


def _locked_sheet(character: Character) -> SheetOption:
    option = (
        SheetOption.objects.filter(character_id=character.pk, status=SheetOption.Status.LOCKED)
        .select_related("image")
        .first()
    )
    if option is None:
        raise ServiceError("Lock a sheet first: continuity works on the locked references.")
    return option


def inspect_start(
    *, character: Character, user: AbstractBaseUser | None, description: str
) -> Generation:
    """Ask the inspect stage where on the locked sheet an error seen in a shot comes from."""
    require(project=character.project, user=user, action=Action.ANNOTATE)
    description = (description or "").strip()
    if not description:
        raise ServiceError("Describe what you saw, e.g. “she wears an AirPod in shot 12”.")
    if len(description) > 1000:
        raise ServiceError("Keep the description under 1,000 characters.")
    option = _locked_sheet(character)
    with transaction.atomic():
        generation = generation_create(
            project=character.project,
            character=character,
            stage=Stage.INSPECT,
            prompt=description,
            user=user,
            parameters={"sheet_option": option.pk},
            reference_ids=[f"sheet:{option.pk}"],
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="asked for inspection",
            target=generation,
            character=character,
            text=description,
        )
    return generation


def inspection_apply(*, generation: Generation, findings: list[dict]) -> list[Annotation]:
    """Turn an inspection's findings into continuity annotations on the panels they name."""
    option = SheetOption.objects.get(pk=generation.parameters["sheet_option"])
    panels = {
        p.kind: p
        for p in option.panels.select_related("current_revision", "sheet__character__project")
    }
    created = []
    for finding in findings:
        panel = panels.get(str(finding.get("panel", "")))
        box = finding.get("box") or []
        if panel is None or len(box) != 4:
            continue
        x, y, w, h = (min(max(float(v), 0.0), 1.0) for v in box)
        w, h = min(w, 1 - x), min(h, 1 - y)
        if w <= 0 or h <= 0:
            continue
        reason = str(finding.get("reason") or "Found by inspection.")[:1000]
        created.append(
            annotation_create(
                panel=panel,
                user=None,
                body=f"{reason}\n(Seen in a shot: {generation.prompt})",
                x=x,
                y=y,
                w=w,
                h=h,
                kind=Annotation.Kind.CONTINUITY,
                found_by_inspection=True,
                can_annotate=True,
            )
        )
    return created


def _ensure_first_revision(panel: Panel) -> PanelRevision:
    """Revision 1 is the panel as it came off the sheet; made when history first matters."""
    if panel.current_revision_id is not None:
        return panel.current_revision
    crop = panel_crop(panel=panel)
    revision, _ = PanelRevision.objects.get_or_create(
        panel=panel, number=1, defaults={"image": crop}
    )
    Panel.objects.filter(pk=panel.pk).update(current_revision=revision)
    panel.current_revision = revision
    return revision


def panel_fix_request(
    *, annotation: Annotation, user: AbstractBaseUser | None, instruction: str = ""
) -> Generation:
    """Send the flagged panel, the instruction and the locked face to the edit stage."""
    panel = annotation.panel
    # Re-read what the invariants are checked against: the caller's objects may be stale.
    character = Character.objects.select_related("project", "locked_candidate").get(
        pk=panel.sheet.character_id
    )
    require(project=character.project, user=user, action=Action.DECIDE)
    if annotation.kind != Annotation.Kind.CONTINUITY or annotation.parent_id is not None:
        raise ServiceError("Only a continuity error can be fixed at the source.")
    if annotation.status == Annotation.Status.RESOLVED:
        raise ServiceError("This error is already resolved.")
    if character.locked_sheet_id != panel.sheet_id:
        raise ServiceError("Fixes go to the locked sheet; this panel is on another option.")
    pending = Generation.objects.filter(
        stage=Stage.EDIT, status__in=["queued", "running"], parameters__panel=panel.pk
    ).exists()
    if pending:
        raise ServiceError("A fix for this panel is already on its way; wait for it first.")
    rules = character_rules(character)
    text = "\n".join(part for part in (annotation.body, (instruction or "").strip()) if part)
    option = panel.sheet
    with transaction.atomic():
        _ensure_first_revision(panel)
        generation = generation_create(
            project=character.project,
            character=character,
            stage=Stage.EDIT,
            prompt=prompts.edit_prompt(panel.kind, text, rules),
            user=user,
            parameters={
                "panel": panel.pk,
                "kind": panel.kind,
                "annotation": annotation.pk,
                "instruction": text,
                "preset": option.preset,
                "rules": rules,
                "subject": option.generation.parameters.get("subject", ""),
                "face_seed": option.generation.parameters.get("face_seed"),
            },
            reference_ids=[f"panel:{panel.pk}", f"asset:{character.locked_candidate.image_4k_id}"],
        )
        activity_record(
            project=character.project,
            actor=user,
            verb="requested panel fix",
            target=annotation,
            character=character,
            panel=panel.kind,
            text=text[:300],
        )
    return generation


def _apply_panel_image(
    *,
    panel: Panel,
    image: Asset,
    user: AbstractBaseUser | None,
    instruction: str,
    generation: Generation | None = None,
    reverted_from: PanelRevision | None = None,
) -> PanelRevision:
    """Make `image` the panel's new revision: recompose the sheet, advance the character."""
    option = SheetOption.objects.select_related("image", "character__project").get(
        pk=panel.sheet_id
    )
    character = option.character
    _ensure_first_revision(panel)
    number = (panel.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = PanelRevision.objects.create(
        panel=panel,
        number=number,
        image=image,
        generation=generation,
        instruction=instruction,
        reverted_from=reverted_from,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    panel_bytes = asset_read(image)
    sheet_bytes = imaging.recompose_sheet(
        asset_read(option.image), (panel.x, panel.y, panel.w, panel.h), panel_bytes
    )
    sheet = asset_store(
        project=character.project, data=sheet_bytes, mime="image/png", generation=generation
    )
    # The preview comes from the panel image itself: decoding it is far cheaper than the sheet.
    preview = asset_store(
        project=character.project,
        data=imaging.make_panel_preview(panel_bytes, (0, 0, image.width, image.height)),
        mime="image/webp",
        derive=False,
    )
    SheetOption.objects.filter(pk=option.pk).update(image=sheet)
    Panel.objects.filter(pk=panel.pk).update(current_revision=revision, crop=image, preview=preview)
    Character.objects.filter(pk=character.pk).update(reference_revision=F("reference_revision") + 1)
    return revision


def panel_fix_apply(*, generation: Generation, image: Asset) -> PanelRevision:
    """Called by the edit task with the fixed panel: new revision, annotation resolved."""
    panel = Panel.objects.select_related("current_revision").get(pk=generation.parameters["panel"])
    annotation = Annotation.objects.filter(pk=generation.parameters.get("annotation")).first()
    user = generation.requested_by
    revision = _apply_panel_image(
        panel=panel,
        image=image,
        user=user,
        instruction=generation.parameters.get("instruction", ""),
        generation=generation,
    )
    if annotation is not None:
        Annotation.objects.filter(pk=annotation.pk).update(
            status=Annotation.Status.RESOLVED, resolved_by_revision=revision
        )
    character = Character.objects.get(pk=panel.sheet.character_id)
    activity_record(
        project=character.project,
        actor=user,
        verb="fixed panel",
        target=revision,
        character=character,
        panel=panel.kind,
        revision=character.reference_revision,
        number=revision.number,
        text=generation.parameters.get("instruction", "")[:300],
    )
    return revision


def panel_revert(
    *, panel: Panel, revision: PanelRevision, user: AbstractBaseUser | None
) -> PanelRevision:
    """Go back to an earlier revision; the revert is itself a new, recorded revision."""
    character = Character.objects.select_related("project").get(pk=panel.sheet.character_id)
    panel = Panel.objects.select_related("sheet", "current_revision").get(pk=panel.pk)
    require(project=character.project, user=user, action=Action.DECIDE)
    if revision.panel_id != panel.pk:
        raise ServiceError("That revision belongs to another panel.")
    if character.locked_sheet_id != panel.sheet_id:
        raise ServiceError("Only the locked sheet's panels have a history to revert.")
    if panel.current_revision_id == revision.pk:
        raise ServiceError("The panel is already at that revision.")
    with transaction.atomic():
        new = _apply_panel_image(
            panel=panel,
            image=revision.image,
            user=user,
            instruction=f"Reverted to revision {revision.number}",
            reverted_from=revision,
        )
        character.refresh_from_db(fields=["reference_revision"])
        activity_record(
            project=character.project,
            actor=user,
            verb="reverted panel",
            target=new,
            character=character,
            panel=panel.kind,
            to=revision.number,
            revision=character.reference_revision,
            number=new.number,
        )
    return new


def current_items_by_panel(option: SheetOption) -> dict[str, list[dict]]:
    """What the offline generator recorded on each panel, as it is now (fixes included)."""
    from .generators.offline_sheet import items_by_panel

    grouped = items_by_panel(option.generation.response_metadata.get("items", []))
    for panel in option.panels.select_related("current_revision__generation"):
        revision = panel.current_revision
        if revision is None:
            continue
        source = revision
        while source.generation_id is None and source.reverted_from_id is not None:
            source = source.reverted_from
        if source.generation_id is not None:
            items = source.generation.response_metadata.get("items", [])
            grouped[panel.kind] = [{"name": i["name"], "box": i["box"]} for i in items]
        elif source.number == 1:
            continue  # back to the original: the sheet's own record holds
    return grouped


# --- shots -------------------------------------------------------------------------------------

SHOT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
SHOT_RESOLUTIONS = ("480p", "720p", "1080p")


def shot_create(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    prompt: str,
    characters: list[Character],
    duration: int = 5,
    ratio: str = "16:9",
    resolution: str = "720p",
) -> Shot:
    """A shot made from the locked references of its characters; rendered at once."""
    require(project=project, user=user, action=Action.GENERATE)
    prompt = (prompt or "").strip()
    if not prompt:
        raise ServiceError("Describe the shot: action, camera, setting.")
    if not characters:
        raise ServiceError("Choose at least one character for the shot.")
    characters = list(Character.objects.filter(pk__in=[c.pk for c in characters]).order_by("name"))
    if any(c.project_id != project.pk for c in characters):
        raise ServiceError("A shot can only use this project's characters.")
    not_ready = [c.name for c in characters if c.locked_sheet_id is None]
    if not_ready:
        raise ServiceError(
            f"Lock a sheet first for: {', '.join(not_ready)}. Shots are made from locked references."
        )
    if not 4 <= duration <= 15:
        raise ServiceError("A shot lasts 4 to 15 seconds.")
    if ratio not in SHOT_RATIOS:
        raise ServiceError(f"Choose a ratio from {', '.join(SHOT_RATIOS)}.")
    if resolution not in SHOT_RESOLUTIONS:
        raise ServiceError(f"Choose a resolution from {', '.join(SHOT_RESOLUTIONS)}.")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        number = (Shot.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        shot = Shot.objects.create(
            project=project,
            number=number,
            prompt=prompt,
            duration=duration,
            ratio=ratio,
            resolution=resolution,
        )
        ShotCharacter.objects.bulk_create(
            [
                ShotCharacter(shot=shot, character=c, reference_revision=c.reference_revision)
                for c in characters
            ]
        )
        activity_record(
            project=project, actor=user, verb="created shot", target=shot, number=number
        )
        shot_render(shot=shot, user=user)
    return shot


def shot_render(*, shot: Shot, user: AbstractBaseUser | None) -> ShotRender:
    """Render (or re-render) a shot from its characters' current references."""
    require(project=shot.project, user=user, action=Action.GENERATE)
    with transaction.atomic():
        cast_rows = list(
            ShotCharacter.objects.select_related("character").filter(shot=shot).order_by("id")
        )
        if any(r.character.locked_sheet_id is None for r in cast_rows):
            raise ServiceError(
                "A character in this shot has no locked sheet any more; lock one first."
            )
        if (
            shot.generation_id
            and Generation.objects.filter(
                pk=shot.generation_id, status__in=["queued", "running"]
            ).exists()
        ):
            raise ServiceError(f"Shot {shot.number} is already rendering.")
        revisions = {str(r.character_id): r.character.reference_revision for r in cast_rows}
        rules = {r.character.name: character_rules(r.character) for r in cast_rows}
        generation = generation_create(
            project=shot.project,
            character=None,
            stage=Stage.SHOT,
            prompt=prompts.shot_prompt(shot.prompt, rules),
            user=user,
            parameters={
                "shot": shot.pk,
                "duration": shot.duration,
                "ratio": shot.ratio,
                "resolution": shot.resolution,
                "revisions": revisions,
            },
            reference_ids=[
                f"character:{r.character_id}@{revisions[str(r.character_id)]}" for r in cast_rows
            ],
        )
        render = ShotRender.objects.create(shot=shot, generation=generation, revisions=revisions)
        for row in cast_rows:
            ShotCharacter.objects.filter(pk=row.pk).update(
                reference_revision=row.character.reference_revision
            )
        Shot.objects.filter(pk=shot.pk).update(generation=generation)
        shot.generation = generation
    return render


def shot_staleness(shot: Shot) -> list[dict]:
    """For each character whose references moved on since the shot's render, what changed."""
    missing = []
    for row in shot.cast.all():
        character = row.character
        if row.reference_revision >= character.reference_revision:
            continue
        changes = [
            a
            for a in character.activities.all()
            if a.verb in ("fixed panel", "reverted panel", "locked sheet", "unlocked sheet")
            and int(a.data.get("revision") or 0) > row.reference_revision
        ]
        missing.append(
            {
                "character": character,
                "from": row.reference_revision,
                "to": character.reference_revision,
                "changes": changes,
            }
        )
    return missing


def shots_rerender_stale(*, project: Project, user: AbstractBaseUser | None) -> list[ShotRender]:
    require(project=project, user=user, action=Action.GENERATE)
    renders = []
    for shot in Shot.objects.filter(project=project).prefetch_related(
        "cast__character__activities"
    ):
        if shot_staleness(shot):
            try:
                renders.append(shot_render(shot=shot, user=user))
            except ServiceError:
                continue  # already rendering, or a character lost its sheet: left as it is
    if renders:
        activity_record(
            project=project, actor=user, verb="re-rendered stale shots", count=len(renders)
        )
    return renders


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
    """Vote up (+1) or down (-1). The same vote again withdraws it; the other one changes it.
    Returns the vote as it stands, or None when withdrawn."""
    if (candidate is None) == (sheet is None):
        raise ServiceError("Vote on one candidate or one sheet option.")
    if value not in (1, -1):
        raise ServiceError("A vote is up or down.")
    character = (candidate or sheet).character
    require(project=character.project, user=user, action=Action.VOTE)
    target = {"candidate": candidate} if candidate else {"sheet": sheet}
    with transaction.atomic():
        existing = Vote.objects.select_for_update().filter(user=user, **target).first()
        if existing is not None and existing.value == value:
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
            value=value if vote else 0,
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
    user: AbstractBaseUser | None,
    text: str,
    share_link: ShareLink | None = None,
    guest_name: str = "",
) -> Activity:
    """A comment in the character's history, by a member who may annotate or by a guest whose
    share link allows comments. @mentions notify the members named."""
    project = character.project
    if share_link is None or membership_role(project=project, user=user) is not None:
        require(project=project, user=user, action=Action.ANNOTATE)
        actor, actor_name = user, ""
    else:
        if (
            share_link.project_id != project.pk
            or not share_link_is_live(share_link)
            or share_link.permission != ShareLink.Permission.COMMENT
        ):
            raise Denied("This share link does not allow comments.")
        guest_name = (guest_name or "").strip()[:80] or "Guest"
        actor, actor_name = None, f"{guest_name} (guest)"
    text = (text or "").strip()
    if not text:
        raise ServiceError("Write something to comment.")
    if len(text) > MAX_COMMENT:
        raise ServiceError(f"Keep a comment under {MAX_COMMENT} characters.")
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


def _require_manage(project: Project, user: AbstractBaseUser | None) -> None:
    require(project=project, user=user, action=Action.MANAGE)


def _owners_left(project: Project, excluding: Membership) -> int:
    return (
        Membership.objects.filter(project=project, role=Role.OWNER).exclude(pk=excluding.pk).count()
    )


def membership_add(
    *, project: Project, user: AbstractBaseUser | None, username: str, role: str
) -> Membership:
    _require_manage(project, user)
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
    _require_manage(project, user)
    if role not in Role.values:
        raise ServiceError("Choose owner, editor, reviewer or viewer.")
    if membership.role == role:
        return membership
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
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
    _require_manage(project, user)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Role.OWNER and not _owners_left(project, membership):
            raise ServiceError("A project needs at least one owner.")
        name = membership.user.get_username()
        membership.delete()
        activity_record(project=project, actor=user, verb="removed member", member=name)


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
    _require_manage(project, user)
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
    _require_manage(link.project, user)
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


def project_set_budget(
    *, project: Project, user: AbstractBaseUser | None, budget_usd: Decimal | None
) -> Project:
    _require_manage(project, user)
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
