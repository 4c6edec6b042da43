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

from . import services
from .models import Asset, Character, Generation
from .storage import asset_read

EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def _generation(g: Generation | None) -> dict | None:
    if g is None:
        return None
    return {
        "id": g.pk,
        "stage": g.stage,
        "provider": g.provider,
        "model": g.model,
        "prompt": g.prompt,
        "seed": g.seed,
        "cost_usd": str(g.cost_usd) if g.cost_usd is not None else None,
        "provider_request_id": g.provider_request_id,
        "finished_at": g.finished_at.isoformat() if g.finished_at else None,
    }


def _file(name: str, asset: Asset) -> dict:
    return {
        "file": f"{name}.{EXT.get(asset.mime, 'bin')}",
        "sha256": asset.sha256,
        "width": asset.width,
        "height": asset.height,
        "bytes": asset.byte_size,
        "mime": asset.mime,
    }


def manifest(character: Character) -> tuple[dict, list[tuple[str, Asset]]]:
    """The manifest and the files it names, as (name in the pack, asset)."""
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
    candidate = character.locked_candidate
    if candidate is not None:
        face = candidate.image_4k or candidate.image
        entry = _file("face-4k" if candidate.image_4k_id else "face", face)
        files.append((entry["file"], face))
        data["face"] = {
            **entry,
            "approved_by": candidate.decided_by.get_username() if candidate.decided_by else None,
            "approved_at": candidate.decided_at.isoformat() if candidate.decided_at else None,
            "generation": _generation(candidate.generation),
            "upscale": _generation(candidate.upscale_generation),
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
            "generation": _generation(option.generation),
        }
        for panel in option.panels.order_by("order", "id"):
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
                    "revision": revision.number if revision else 1,
                    "instruction": revision.instruction if revision else "",
                }
            )
    return data, files


def reference_pack(character: Character) -> IO[bytes]:
    """A zip of the locked references and manifest.json, spooled to disk past 64 MB."""
    data, files = manifest(character)
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as pack:
        # Images are already compressed: storing them is as small and much faster.
        pack.writestr("manifest.json", json.dumps(data, indent=2))
        for name, asset in files:
            pack.writestr(name, asset_read(asset))
    spool.seek(0)
    return spool
