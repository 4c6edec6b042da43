"""Shared pieces of the shot-review tests: a stand-in frame still and a note on a shot."""

from __future__ import annotations

import io

from PIL import Image

from characters import services
from characters.models import Shot, ShotNote


def png(width: int = 64, height: int = 36, colour=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def note_on(shot: Shot, user, body="She wears an AirPod in her left ear", **extra) -> ShotNote:
    """A note at 00:02.4 with a box near the left ear and a frame still, unless told otherwise."""
    fields = {"timecode": 2.4, "box": (0.55, 0.2, 0.1, 0.15), "still": png()}
    fields.update(extra)
    return services.shot_note_create(shot=shot, user=user, body=body, **fields)
