"""Every state change in Turnaround: <entity>_<action>, keyword-only, transaction-aware.

Services check the invariant, write the rows, record the decision in Activity, and enqueue
background work on commit. Views call services; they never change state themselves.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.text import slugify

from . import prompts
from .generators.base import GenerationRequest
from .generators.routing import get_generator, provider_for
from .models import (
    Activity,
    CastingCandidate,
    Character,
    Generation,
    Membership,
    Project,
    Role,
    Stage,
)
from .permissions import Action, Denied, role_allows

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
    if generation.stage == Stage.UPSCALE and hasattr(generation, "upscaled_candidate"):
        pass  # the face stays locked; the page offers a retry of the 4K step


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
