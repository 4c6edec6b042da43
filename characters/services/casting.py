"""Casting: cast candidates, decide on them, approve (lock) a face and unlock it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import prompts

# --- casting ---------------------------------------------------------------------------------
from ..generators.base import GenerationRequest, GenerationResult, ReferenceImage
from ..models import (
    CastingCandidate,
    Character,
    Generation,
    ReferenceChange,
    Stage,
)
from ..permissions import Action
from ..storage import Picture, asset_read
from .core import (
    MAX_CANDIDATES,
    MIN_CANDIDATES,
    ServiceError,
    activity_record,
    character_advance_revision,
    require,
)
from .generations import generation_create, generations_create, keep_result
from .team import vote_tally


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
    with transaction.atomic():
        generations = generations_create(
            project=character.project,
            character=character,
            stage=Stage.CASTING,
            prompt=prompt,
            user=user,
            seeds=[None] * count,
            parameters={"aspect_ratio": "3:4"},
        )
        candidates = CastingCandidate.objects.bulk_create(
            [CastingCandidate(character=character, generation=g) for g in generations]
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
            character.save(update_fields=["locked_candidate", "updated_at"])
            character_advance_revision(
                character=character,
                kind=ReferenceChange.Kind.FACE_LOCKED,
                user=user,
                summary="A new face was locked",
            )
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
        character.save(update_fields=["locked_candidate", "updated_at"])
        character_advance_revision(
            character=character,
            kind=ReferenceChange.Kind.FACE_UNLOCKED,
            user=user,
            summary=f"Face unlocked: {reason}",
        )
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


# --- stage handler: build the request, keep the result ---------------------------------------


PORTRAIT_SIZE = (896, 1216)  # 3:4, the size the default portrait model returns


def casting_request(generation: Generation) -> GenerationRequest:
    return GenerationRequest(
        stage=Stage.CASTING,
        prompt=generation.prompt,
        width=PORTRAIT_SIZE[0],
        height=PORTRAIT_SIZE[1],
        aspect_ratio="3:4",
        seed=generation.seed,
    )


def casting_keep(generation: Generation, result: GenerationResult, picture: Picture) -> None:
    stored = keep_result(generation, result, picture=picture)
    CastingCandidate.objects.filter(generation=generation).update(image=stored)


def upscale_request(generation: Generation) -> GenerationRequest:
    candidate = CastingCandidate.objects.select_related("image").get(upscale_generation=generation)
    return GenerationRequest(
        stage=Stage.UPSCALE,
        prompt="",
        references=(ReferenceImage(asset_read(candidate.image), candidate.image.mime, "face"),),
        width=int(generation.parameters.get("target", 4096)),
        seed=generation.seed,
    )


def upscale_keep(generation: Generation, result: GenerationResult, picture: Picture) -> None:
    stored = keep_result(generation, result, picture=picture)
    CastingCandidate.objects.filter(upscale_generation=generation).update(image_4k=stored)
