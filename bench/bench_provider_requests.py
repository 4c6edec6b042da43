"""Benchmark: bytes of the Gemini sheet and edit requests, references as stored vs as sent.

Not a test; it never fails. Gemini 3 tokenises an input image at a fixed resolution, so a 4K
reference mostly costs upload time. The client now sends references at most
REFERENCE_MAX_SIDE (2048 px) on the long side. This builds a photo-like 3072x4096 face (the
locked 4K face) and a 917x1536 panel (a 4K sheet's panel), and measures the exact JSON body
the client sends for a sheet (face) and an edit (panel + face), before (references as stored)
and after (at the size the model uses). Nothing is sent anywhere.

Goal: the edit request at most 0.35x its size with references as stored.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from PIL import Image, ImageFilter  # noqa: E402

from characters.generators import gemini  # noqa: E402
from characters.generators.base import GenerationRequest, ReferenceImage  # noqa: E402

GOAL = 0.35


def photo_like(width: int, height: int, seed: int) -> bytes:
    """Noise over gradients, softened: compresses like a render, not like flat colour."""
    rng = random.Random(seed)
    small = Image.new("RGB", (width // 8, height // 8))
    small.putdata(
        [
            (
                (x * 255 // small.width + rng.randint(0, 60)) % 256,
                (y * 255 // small.height + rng.randint(0, 60)) % 256,
                rng.randint(60, 200),
            )
            for y in range(small.height)
            for x in range(small.width)
        ]
    )
    img = small.resize((width, height), Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(1)
    )
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    img = Image.blend(img, noise, 0.08)
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def body_bytes(client: gemini.GeminiGenerator, request: GenerationRequest) -> int:
    return len(json.dumps(client.image_body(request), separators=(",", ":")).encode())


def main() -> None:
    face = ReferenceImage(photo_like(3072, 4096, 1), "image/png", "face")
    panel = ReferenceImage(photo_like(917, 1536, 2), "image/png", "front")
    sheet = GenerationRequest("sheet", "Turnaround sheet", references=(face,))
    edit = GenerationRequest(
        "edit", "Edit this panel", references=(panel, face), width=917, height=1536
    )
    client = gemini.GeminiGenerator(api_key="bench", base_url="http://127.0.0.1:9")
    try:
        saved = gemini.REFERENCE_MAX_SIDE
        gemini.REFERENCE_MAX_SIDE = 100_000  # before: references as stored
        before = {name: body_bytes(client, r) for name, r in (("sheet", sheet), ("edit", edit))}
        gemini.REFERENCE_MAX_SIDE = saved
        started = time.perf_counter()
        after = {name: body_bytes(client, r) for name, r in (("sheet", sheet), ("edit", edit))}
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    print(
        f"face 3072x4096 PNG {len(face.data) / 1e6:.1f} MB, panel 917x1536 PNG "
        f"{len(panel.data) / 1e6:.1f} MB; references sent at <= {saved} px long side"
    )
    for name in ("sheet", "edit"):
        ratio = after[name] / before[name]
        print(
            f"{name:<6} request {before[name] / 1e6:6.1f} MB -> {after[name] / 1e6:6.1f} MB "
            f"({ratio:.2f}x)"
        )
    print(f"building both bodies at the sent size took {elapsed * 1000:.0f} ms (resizing included)")
    ratio = after["edit"] / before["edit"]
    ok = "ok" if ratio <= GOAL else "missed"
    print(f"BENCH gemini_edit_request_bytes_ratio {ratio:.2f} x goal <= {GOAL} {ok}")
    print(
        f"BENCH gemini_edit_request_mb {after['edit'] / 1e6:.1f} MB goal <= 100 "
        f"{'ok' if after['edit'] <= 100e6 else 'missed'}"
    )


if __name__ == "__main__":
    main()
