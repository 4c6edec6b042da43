"""The locked references as downstream tools take them: manifest.json and the reference pack.

The manifest always describes the character's current reference revision: the 4K face, the
locked sheet, every panel crop (cut now if it was not yet), and who locked what when, with the
prompt, provider, model, seed and cost of each generation behind them.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import IO

from django.utils import timezone

from . import selectors, services
from .models import Asset, Character, Generation, IdentityScore
from .storage import asset_read

EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def _generation(g: Generation | None, *, show_costs: bool) -> dict | None:
    if g is None:
        return None
    entry = {
        "id": g.pk,
        "stage": g.stage,
        "provider": g.provider,
        "model": g.model,
        "prompt": g.prompt,
        "seed": g.seed,
        "provider_request_id": g.provider_request_id,
        "finished_at": g.finished_at.isoformat() if g.finished_at else None,
    }
    if show_costs:  # what a call cost is for those the pages show costs to, no one else
        entry["cost_usd"] = str(g.cost_usd) if g.cost_usd is not None else None
    return entry


def _file(name: str, asset: Asset) -> dict:
    return {
        "file": f"{name}.{EXT.get(asset.mime, 'bin')}",
        "sha256": asset.sha256,
        "width": asset.width,
        "height": asset.height,
        "bytes": asset.byte_size,
        "mime": asset.mime,
    }


def manifest(
    character: Character, *, show_costs: bool = False
) -> tuple[dict, list[tuple[str, Asset]]]:
    """The manifest and the files it names, as (name in the pack, asset). What locking cost is
    in it only for those allowed to see costs (members; guests only where the project says)."""
    files: list[tuple[str, Asset]] = []
    data: dict = {
        "format": "turnaround-reference-pack/1",
        "project": {"name": character.project.name, "slug": character.project.slug},
        "character": {
            "name": character.name,
            "slug": character.slug,
            "brief": character.brief,
            "wardrobe": character.wardrobe,
            "distinguishing_marks": character.distinguishing_marks,
            "rules": services.character_rules(character),
        },
        "reference_revision": character.reference_revision,
        "generated_at": timezone.now().isoformat(),
        "face": None,
        "sheet": None,
        "panels": [],
    }
    if show_costs:
        data["cost_to_lock"] = selectors.cost_to_lock(character).as_dict()
    candidate = character.locked_candidate
    if candidate is not None:
        face = candidate.image_4k or candidate.image
        entry = _file("face-4k" if candidate.image_4k_id else "face", face)
        files.append((entry["file"], face))
        data["face"] = {
            **entry,
            "approved_by": candidate.decided_by.get_username() if candidate.decided_by else None,
            "approved_at": candidate.decided_at.isoformat() if candidate.decided_at else None,
            "generation": _generation(candidate.generation, show_costs=show_costs),
            "upscale": _generation(candidate.upscale_generation, show_costs=show_costs),
        }
    option = character.locked_sheet
    if option is not None and option.image is not None:
        entry = _file("sheet-4k", option.image)
        files.append((entry["file"], option.image))
        data["sheet"] = {
            **entry,
            "option": option.index,
            "preset": option.preset,
            "split": option.split_method,
            "locked_by": option.locked_by.get_username() if option.locked_by else None,
            "locked_at": option.locked_at.isoformat() if option.locked_at else None,
            "generation": _generation(option.generation, show_costs=show_costs),
        }
        panels = list(option.panels.select_related("current_revision").order_by("order", "id"))
        scores = services.current_scores(panels)
        data["sheet"]["identity"] = services.identity_summary(panels, scores)
        for panel in panels:
            crop = services.panel_crop(panel=panel)
            entry = _file(f"panels/{panel.order + 1:02d}-{panel.kind}", crop)
            files.append((entry["file"], crop))
            revision = panel.current_revision
            data["panels"].append(
                {
                    **entry,
                    "kind": panel.kind,
                    "box": {"x": panel.x, "y": panel.y, "w": panel.w, "h": panel.h},
                    "detected": panel.detected,
                    "confidence": panel.confidence,
                    "revision": revision.number if revision else 1,
                    "instruction": revision.instruction if revision else "",
                    "identity": _identity(scores.get(panel.pk)),
                }
            )
    return data, files


def _identity(score: IdentityScore | None) -> dict | None:
    if score is None:
        return None  # still being measured
    return {
        "verdict": score.verdict,
        "distance": None if score.distance is None else round(score.distance, 4),
        "threshold": score.threshold,
        "model": score.model,
    }


def reference_pack(character: Character, *, show_costs: bool = False) -> IO[bytes]:
    """A zip of the locked references and manifest.json, spooled to disk past 64 MB."""
    data, files = manifest(character, show_costs=show_costs)
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as pack:
        # Images are already compressed: storing them is as small and much faster.
        pack.writestr("manifest.json", json.dumps(data, indent=2))
        for name, asset in files:
            pack.writestr(name, asset_read(asset))
    spool.seek(0)
    return spool
