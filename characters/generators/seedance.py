"""Seedance 2.0 on BytePlus ModelArk: video shots made from the locked references.

Wire format: ../shared/providers/seedance.md. The provider is asynchronous, and so is this
client: generate() creates the task and returns Pending with its id at once; the runner stores
the id and calls again later with it as resume_id, and each such call reads the task's status
once. When the task is final the video is downloaded at once (its URL expires in about a day).
Nothing here sleeps waiting for the shot; the runner's overall deadline cancels a stuck task.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from django.conf import settings

from .base import (
    GeneratedAsset,
    GenerationRequest,
    GenerationResult,
    GeneratorError,
    ModelStatus,
    Pending,
    ShotSpec,
    reported_number,
)
from .http import ProviderHTTPError, ProviderTransport, transport_from_settings

TASKS_PATH = "/contents/generations/tasks"
DOWNLOAD_HOSTS = ("*.bytepluses.com", "*.byteplus.com", "*.volces.com")
RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"})
# *unsure*: 1080p is documented for the standard model only; the fast model stops at 720p.
RESOLUTIONS_STANDARD = frozenset({"480p", "720p", "1080p"})
RESOLUTIONS_FAST = frozenset({"480p", "720p"})
MAX_REFERENCES = 9
DURATION_RANGE = (4, 15)
SEED_RANGE = (-1, 4_294_967_295)
DEFAULT_RESOLUTION = "720p"
DEFAULT_RATIO = "16:9"
DEFAULT_DURATION = 5
POLL_INTERVAL = 5.0  # the first check after a submit; the runner backs off from it
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "expired"})
BLOCKED_CODE_MARK = "SensitiveContentDetected"


# Seedance 2.0 on ModelArk (2026-12); `providers --check` names a configured id not listed here.
KNOWN_MODELS = frozenset({"dreamina-seedance-2-0-260128", "dreamina-seedance-2-0-fast-260128"})
RETIRED_MODELS: dict[str, str] = {}  # none announced


class SeedanceGenerator:
    name = "seedance"
    display = "Seedance"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        poll_interval: float | None = None,
        **transport_options: Any,
    ) -> None:
        self.model = model or settings.SEEDANCE_MODEL
        key = api_key if api_key is not None else settings.ARK_API_KEY
        self.poll_interval = (
            poll_interval
            if poll_interval is not None
            else float(getattr(settings, "TURNAROUND_SEEDANCE_POLL_INTERVAL", POLL_INTERVAL))
        )
        self.http: ProviderTransport = transport_from_settings(
            provider=self.display,
            base_url=base_url or settings.ARK_API_BASE,
            auth_headers={"Authorization": f"Bearer {key}"},
            download_hosts=DOWNLOAD_HOSTS,
            **transport_options,
        )

    def __repr__(self) -> str:
        return f"SeedanceGenerator(model={self.model!r})"

    def model_for(self, stage: str) -> str:
        return self.model

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        return settings.TURNAROUND_PRICES["seedance_shot_estimate"]

    def close(self) -> None:
        self.http.close()

    def check_models(self) -> list[ModelStatus]:
        """No model lookup exists here: the configured id against the ids Turnaround knows."""
        model = self.model
        if model in RETIRED_MODELS:
            return [ModelStatus("SEEDANCE_MODEL", model, "retired", RETIRED_MODELS[model])]
        if model not in KNOWN_MODELS:
            return [
                ModelStatus(
                    "SEEDANCE_MODEL",
                    model,
                    "unknown",
                    "not a model Turnaround knows for Seedance; known: "
                    + ", ".join(sorted(KNOWN_MODELS)),
                )
            ]
        return [ModelStatus("SEEDANCE_MODEL", model, "ok")]

    def check(self) -> str:
        # No cheap read exists; an unknown task id answers 404 only once the key is accepted.
        self.http.request("GET", f"{TASKS_PATH}/cgt-turnaround-check", ok_statuses=(404,))
        return "authenticated"

    def cancel(self, task_id: str) -> None:
        """Cancel a queued task. A task already gone (404) counts as cancelled."""
        self.http.request("DELETE", f"{TASKS_PATH}/{task_id}", ok_statuses=(404,))

    # --- request building -----------------------------------------------------------------

    def task_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The exact JSON sent to create a shot task."""
        spec = request.spec if isinstance(request.spec, ShotSpec) else ShotSpec(number=0)
        resolution = spec.resolution or DEFAULT_RESOLUTION
        allowed = RESOLUTIONS_FAST if "fast" in self.model else RESOLUTIONS_STANDARD
        if resolution not in allowed:
            raise GeneratorError(
                f"{self.model} makes {', '.join(sorted(allowed))} video, not {resolution!r}.",
                permanent=True,
            )
        ratio = spec.ratio or request.aspect_ratio or DEFAULT_RATIO
        if ratio not in RATIOS:
            raise GeneratorError(
                f"Seedance does not make {ratio!r} video; use one of {', '.join(sorted(RATIOS))}.",
                permanent=True,
            )
        duration = DEFAULT_DURATION if spec.duration is None else spec.duration
        low, high = DURATION_RANGE
        if not isinstance(duration, int) or not (duration == -1 or low <= duration <= high):
            raise GeneratorError(
                f"Shot length must be {low}-{high} seconds (or -1 for automatic), not {duration!r}.",
                permanent=True,
            )
        seed = -1 if request.seed is None else request.seed
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise GeneratorError("Seedance seeds run from -1 to 4294967295.", permanent=True)
        if len(request.references) > MAX_REFERENCES:
            raise GeneratorError(
                f"Seedance takes at most {MAX_REFERENCES} reference images; "
                f"{len(request.references)} were given.",
                permanent=True,
            )
        if not request.prompt.strip():
            raise GeneratorError("The shot prompt is empty.", permanent=True)
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        for ref in request.references:
            if ref.uri:
                # An asset of the library (a virtual portrait): how photoreal faces must go.
                if not ref.uri.startswith("asset://"):
                    raise GeneratorError(
                        f"Seedance references are asset:// ids or images, not {ref.uri!r}.",
                        permanent=True,
                    )
                url = ref.uri
            else:
                # Inline images only for what is not a photoreal face (stylised characters).
                if not ref.mime.startswith("image/"):
                    raise GeneratorError("Seedance references must be images.", permanent=True)
                url = f"data:{ref.mime};base64,{base64.b64encode(ref.data).decode('ascii')}"
            content.append(
                {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}
            )
        return {
            "model": self.model,
            "content": content,
            "resolution": resolution,
            "ratio": ratio,
            "duration": duration,
            "generate_audio": False,
            "seed": seed,
            "watermark": False,
        }

    # --- the shot -------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult | Pending:
        if request.stage != "shot":
            raise GeneratorError(
                f"Seedance does not serve the {request.stage} stage.", permanent=True
            )
        if request.resume_id:
            return self.poll(request.resume_id)
        return Pending(self.submit(request), after=self.poll_interval, status="queued")

    def submit(self, request: GenerationRequest) -> str:
        """Create the shot task (the paid call) and return its id."""
        body = self.task_body(request)
        try:
            response = self.http.request("POST", TASKS_PATH, json_body=body, paid=True)
        except ProviderHTTPError as exc:
            if BLOCKED_CODE_MARK in exc.provider_code:
                raise GeneratorError(
                    f"Seedance refused the shot ({exc.provider_code}): {exc.message}",
                    permanent=True,
                    blocked=True,
                    status_code=exc.status_code,
                    attempts=exc.attempts,
                ) from exc
            raise
        task_id = str(response.json().get("id") or "")
        if not task_id:
            raise GeneratorError(
                "Seedance accepted the shot but sent no task id.",
                permanent=False,
                attempts=response.attempts,
            )
        return task_id

    def poll(self, task_id: str) -> GenerationResult | Pending:
        """Read the task once: the finished shot, or Pending while Seedance is still at it.

        A read that fails for a passing reason (rate limit, overload, a dropped connection)
        is not the shot failing: the task is still running and paid for, so check again later
        rather than retrying here with a worker asleep."""
        try:
            task = self.http.request("GET", f"{TASKS_PATH}/{task_id}", max_attempts=1).json()
        except GeneratorError as exc:
            if exc.permanent:
                raise
            return Pending(task_id, after=self.poll_interval * 2, status="unreachable")
        status = task.get("status") if isinstance(task, dict) else None
        if status in FINAL_STATUSES:
            return self._finish(task_id, task, 1)
        return Pending(task_id, after=self.poll_interval, status=str(status or ""))

    def _finish(self, task_id: str, task: dict[str, Any], attempts: int) -> GenerationResult:
        status = task["status"]
        attempts = max(attempts, 1)
        if status != "succeeded":
            error = task.get("error") or {}
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
            if BLOCKED_CODE_MARK in code:
                raise GeneratorError(
                    f"Seedance refused the shot ({code}){': ' + message if message else '.'}",
                    permanent=True,
                    blocked=True,
                    attempts=attempts,
                )
            detail = f" ({code}: {message})" if code or message else ""
            raise GeneratorError(
                f"Seedance task {task_id} {status}{detail}.",
                permanent=status == "failed" and code.startswith(("InvalidParameter", "Missing")),
                attempts=attempts,
            )
        url = (task.get("content") or {}).get("video_url")
        if not url:
            raise GeneratorError(
                f"Seedance task {task_id} succeeded without a video URL.",
                permanent=False,
                attempts=attempts,
                charged=True,
            )
        download = self.http.download(url, kind="video")
        usage = task.get("usage") or {}
        tokens = reported_number(usage.get("completion_tokens"))
        if tokens is not None:
            cost = tokens / 1000 * settings.TURNAROUND_PRICES["seedance_usd_per_1k_tokens"]
        else:
            cost = settings.TURNAROUND_PRICES["seedance_shot_estimate"]
        meta = {
            key: task.get(key)
            for key in ("resolution", "ratio", "duration", "framespersecond", "seed")
            if task.get(key) is not None
        }
        return GenerationResult(
            assets=[GeneratedAsset(download.data, download.mime, metadata=meta)],
            provider=self.name,
            model=str(task.get("model") or self.model),
            cost_usd=cost,
            provider_request_id=task_id,
            metadata={"usage": usage, **meta},
            attempts=attempts,
        )
