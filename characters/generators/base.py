"""The one protocol every generator speaks, whatever the stage or provider.

A generator takes a GenerationRequest and returns a GenerationResult, or raises GeneratorError.
Generators never touch the database: the task layer turns results into rows and files.

Task-based providers (Seedance) never make a worker wait for them. Their generate() answers
Pending instead of a result: on the first call (no resume_id) it submits the work and returns
at once with the provider's task id; on every later call (resume_id = that id) it reads the
task's status once and returns the result when it is final, or Pending again. The runner
stores the id, frees the worker, and calls again when Pending.after has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class ReferenceImage:
    data: bytes
    mime: str
    label: str = ""  # "face", "front", "sheet", ... — how the prompt refers to it
    # A provider-side reference instead of bytes (Seedance: "asset://<id>"); data may be empty.
    uri: str = ""


# What each stage means, typed: a generator reads the fields of its stage's spec, never a bag of
# keys. Casting and upscale need nothing beyond the request's common fields.
@dataclass(frozen=True)
class SheetSpec:
    preset: str  # layouts.PRESETS name: which panels the sheet holds
    rules: tuple[str, ...] = ()  # continuity rules, also spelled out in the prompt


@dataclass(frozen=True)
class EditSpec:
    panel: str  # the kind of the panel being fixed ("face_closeup")
    preset: str
    instruction: str  # the note and the reviewer's instruction, as the team wrote them
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class InspectSpec:
    panels: tuple[str, ...]  # the kinds of the panel images sent, in order
    # From a shot note: what the reviewer wrote, their box on the frame ([x, y, w, h] 0-1), the
    # moment (seconds), and the label of the extra, last reference that is the frame itself.
    note: str = ""
    box: tuple[float, float, float, float] | None = None
    timecode: float | None = None
    frame: str = ""
    # What the brief requires, as the team wrote it: never a finding. The distinguishing marks,
    # and what the wardrobe and the brief list.
    required_marks: str = ""
    required_listed: str = ""


@dataclass(frozen=True)
class LabelSpec:
    kinds: tuple[str, ...]  # the layout's panel kinds, the answers allowed
    regions: tuple[tuple[float, float, float, float], ...]  # x, y, w, h as fractions, numbered 1..


@dataclass(frozen=True)
class ShotSpec:
    number: int
    duration: int | None = None
    ratio: str | None = None
    resolution: str | None = None


StageSpec = SheetSpec | EditSpec | InspectSpec | LabelSpec | ShotSpec


@dataclass(frozen=True)
class GenerationRequest:
    stage: str  # characters.models.Stage value
    prompt: str
    references: tuple[ReferenceImage, ...] = ()
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None  # "16:9", "3:4"
    image_size: str | None = None  # "1K" | "2K" | "4K" (Gemini)
    seed: int | None = None
    spec: StageSpec | None = None
    # Multi-turn edits send earlier turns back exactly as they came (Gemini, with signatures).
    history: tuple[dict[str, Any], ...] = ()
    # The task id of an earlier Pending for this generation (set by the runner): check that
    # task, never submit (and pay for) a second one.
    resume_id: str = ""


@dataclass(frozen=True)
class Pending:
    """The provider has the work and is still making it: no result yet, ask again later.

    task_id: the provider's handle for the work, handed back as request.resume_id on the next
    call. Opaque to the runner (at most 200 characters), so a flow with several waits can say
    which phase it is in. after: seconds until another check is worth making (the runner
    backs off from it). status: the provider's own word ("queued", "running").
    """

    task_id: str
    after: float
    status: str = ""
    # A check gets a light request (stage, prompt, seed, resume_id). True asks for the whole
    # request (references, options) on the next call: a flow whose next phase sends them.
    full_request: bool = False


@dataclass(frozen=True)
class GeneratedAsset:
    data: bytes
    mime: str
    width: int = 0
    height: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationResult:
    assets: list[GeneratedAsset]
    provider: str
    model: str
    cost_usd: Decimal = Decimal(0)
    provider_request_id: str = ""
    text: str = ""  # text answers (inspection)
    data: dict[str, Any] = field(default_factory=dict)  # structured answers (inspection)
    metadata: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1


def reported_number(value: object) -> Decimal | None:
    """A number from a provider's JSON as a Decimal, NaN and Infinity included (the runner's
    cost check refuses those, with a warning); None when the value is not a number at all."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


class GeneratorError(Exception):
    """A generation that did not produce a result.

    permanent: retrying the same request will not help (bad request, refusal, bad image).
    blocked: the provider refused on safety grounds; message carries the provider's words.
    message is shown to the team, so it says what happened in their terms and never holds a key.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        blocked: bool = False,
        status_code: int | None = None,
        attempts: int = 1,
        charged: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent or blocked
        self.blocked = blocked
        self.status_code = status_code
        self.attempts = attempts
        self.charged = charged

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ModelStatus:
    """What `providers --check` learnt about one configured model."""

    setting: str  # the setting that names it, e.g. "GEMINI_IMAGE_MODEL"
    model: str
    state: str  # "ok" | "unknown" | "retired"
    detail: str = ""


class Generator(Protocol):
    """A task-based generator may also have cancel(task_id): the runner calls it when the
    overall wait deadline passes, so an abandoned task is not left running (and billed)."""

    name: str  # "offline", "recraft", "gemini", "seedance"

    def model_for(self, stage: str) -> str: ...

    def estimate_cost(self, request: GenerationRequest) -> Decimal: ...

    def generate(self, request: GenerationRequest) -> GenerationResult | Pending: ...

    def close(self) -> None: ...
