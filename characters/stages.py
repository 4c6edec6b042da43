"""The stages of the pipeline, in one table: what each asks, where it routes, how long it takes.

Users pick a stage, not a platform. This table is the one place a stage is described: the
Stage choices (models), the default routes (settings), the typical waits shown on pending cards
(views, through Generation.typical_seconds) and the fake provider server's realistic latencies
all read it. It imports nothing from Django, so settings can read it too.

Adding a stage: a row here, a handler pair in its area (services/<area>.py) and a line in
tasks.STAGE_HANDLERS, and a method on each generator that serves it (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageInfo:
    label: str  # how the stage is named on screen
    question: str  # the question the stage answers for the team
    default_route: str  # provider when TURNAROUND_ROUTE_<STAGE> is not set
    # Typical wall time of one generation, per provider, in seconds (shown on pending cards as
    # "of ~N s typical"; the fake server's --typical mode waits this long).
    typical_seconds: dict[str, float] = field(default_factory=dict)

    def typical(self, provider: str) -> float:
        return self.typical_seconds.get(provider, self.typical_seconds.get("default", 30))


STAGES: dict[str, StageInfo] = {
    "casting": StageInfo(
        "Casting",
        "Does this face look real?",
        "recraft",
        {"offline": 2, "recraft": 15, "default": 30},
    ),
    "upscale": StageInfo(
        "4K upscale",
        "The approved face at 4K",
        "recraft",
        {"offline": 2, "recraft": 20, "default": 30},
    ),
    "sheet": StageInfo(
        "Turnaround sheet",
        "Is this the same person from every angle?",
        "gemini",
        {"offline": 3, "gemini": 60, "default": 60},
    ),
    "edit": StageInfo(
        "Panel fix",
        "Fix this panel at its source",
        "gemini",
        {"offline": 2, "gemini": 40, "default": 60},
    ),
    "inspect": StageInfo(
        "Inspection",
        "Where on the sheet is this continuity error?",
        "gemini",
        {"offline": 1, "gemini": 20, "default": 30},
    ),
    "shot": StageInfo(
        "Shot",
        "Make the shot from the locked references",
        "seedance",
        {"offline": 3, "seedance": 120, "default": 120},
    ),
}


def stage_info(stage: str) -> StageInfo:
    return STAGES[stage]
