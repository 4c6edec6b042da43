"""Benchmark: how well and how fast a sheet is split into named panels.

Not a test; it never fails. First, accuracy on the corpus (tests/split_corpus.py: drawn
arrangements and real photographs, at two sizes): the share of panels whose box is within
IoU 0.9 of the truth (split_found) and the share whose kind is right (split_kinds).

Then speed and memory at 4K. It builds a photo-like 5504x3072 PNG sheet (noise and gradients in
the panels, so it compresses and decodes like a real render rather than flat colour) and a
drawn corpus sheet at the same size (figures on one shared, textured background: the hardest
arrangement), then times, each in a fresh process so peak memory is not shared:

  decode   one plain Pillow decode of the PNG
  split    split_sheet: the same decode, panel detection and one 512 px WebP preview per panel
  crops    eager full-resolution PNG crops of every panel (what split avoids doing up front)

Goals: every panel found and named; split <= 1.5x one decode, and under 200 MB of memory above
the loaded bytes. Run from the worktree: .venv/bin/python bench/bench_split.py
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import bench_line

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from PIL import Image, ImageChops  # noqa: E402

from characters.imaging import crop_panel, split_sheet  # noqa: E402
from characters.panels_detect import nominal_boxes  # noqa: E402

WIDTH, HEIGHT = 5504, 3072
PRESET = "six"
REPEATS = 3
CORPUS_SIZES = ((1920, 1080), (2752, 1536))
DRAWN = "shared-paper-grid"


def corpus_accuracy() -> tuple[float, float]:
    """Share of corpus panels found (IoU >= 0.9) and named right, printing each miss."""
    from characters.panels_detect import iou
    from tests.split_corpus import corpus

    panels = found = named = reviews = sheets = 0
    for size in CORPUS_SIZES:
        for sheet in corpus(*size):
            sheets += 1
            result = split_sheet(sheet.png(), sheet.preset, previews=False)
            reviews += result.review
            for p in result.panels:
                panels += 1
                truth = sheet.truth[p.kind]
                best = max(sheet.truth, key=lambda k, p=p: iou(p.box, sheet.truth[k]))
                hit = iou(p.box, truth) >= 0.9
                found += iou(p.box, sheet.truth[best]) >= 0.9
                named += hit
                if not hit:
                    print(f"  miss: {sheet.name} {size} {p.kind}: IoU {iou(p.box, truth):.2f}")
    print(
        f"corpus: {sheets} sheets, {panels} panels: {found} found (IoU >= 0.9), "
        f"{named} found and named right; {reviews} sheets flagged for review"
    )
    return 100 * found / panels, 100 * named / panels


def make_sheet() -> bytes:
    """A light-grey sheet whose panels hold noisy gradients, a little uneven like a render."""
    sheet = Image.new("RGB", (WIDTH, HEIGHT), (232, 232, 230))
    for i, (x, y, w, h) in enumerate(nominal_boxes(PRESET, WIDTH, HEIGHT).values()):
        noise = Image.effect_noise((w, h), 48)
        grad = Image.linear_gradient("L").resize((w, h))
        r = ImageChops.add(noise, grad, scale=2.0, offset=20 + 10 * i)
        g = ImageChops.add(noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grad, scale=2.2)
        b = ImageChops.add(
            noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM), grad.rotate(180), scale=2.4
        )
        sheet.paste(Image.merge("RGB", (r, g, b)), (x + (i % 3) * 4, y + (i % 2) * 6))
    buf = io.BytesIO()
    sheet.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def make_drawn() -> bytes:
    from tests.split_corpus import drawn_sheets

    (sheet,) = (s for s in drawn_sheets(WIDTH, HEIGHT) if s.name == DRAWN)
    buf = io.BytesIO()
    sheet.image.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark, so the peak measured is the work's, not the file
    read's (reading 40 MB can briefly hold it twice). Linux only; False elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    return _status_mb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    # VmHWM is the peak RSS; ru_maxrss (KiB on Linux) is the fallback.
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, path: str) -> None:
    data = Path(path).read_bytes()
    reset_peak()
    before = rss_mb()
    times = []
    extra: dict = {}
    for _ in range(REPEATS):
        t = time.perf_counter()
        if mode == "decode":
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        elif mode == "split":
            result = split_sheet(data, PRESET)
            extra = {
                "method": result.method,
                "previews": [len(p.preview) for p in result.panels],
            }
        elif mode == "crops":
            result = split_sheet(data, PRESET, previews=False)
            sizes = [len(crop_panel(data, p.box)) for p in result.panels]
            extra = {"crop_bytes": sum(sizes)}
        times.append(time.perf_counter() - t)
    print(json.dumps({"best": min(times), "peak_delta_mb": peak_mb() - before, **extra}))


def run(mode: str, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, path],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(label: str, data: bytes) -> tuple[float, float]:
    with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        decode, split, crops = (run(m, path) for m in ("decode", "split", "crops"))
    finally:
        os.unlink(path)
    ratio = split["best"] / decode["best"]
    print(f"{label}: {len(data) / 1e6:.1f} MB PNG")
    print(
        f"  decode once        {decode['best'] * 1000:7.0f} ms   peak +{decode['peak_delta_mb']:.0f} MB"
    )
    print(
        f"  split + previews   {split['best'] * 1000:7.0f} ms   peak +{split['peak_delta_mb']:.0f} MB"
        f"   method {split['method']}, previews {split['previews']} bytes"
    )
    print(
        f"  split + PNG crops  {crops['best'] * 1000:7.0f} ms   peak +{crops['peak_delta_mb']:.0f} MB"
        f"   ({crops['crop_bytes'] / 1e6:.1f} MB of crops, each crop decodes the sheet again)"
    )
    print(f"  ratio split/decode {ratio:.2f}x (goal <= 1.5x)")
    return ratio, split["peak_delta_mb"]


def main() -> None:
    found, named = corpus_accuracy()
    print(bench_line("split_found", found, "%", ">=", 100))
    print(bench_line("split_kinds", named, "%", ">=", 100))
    t = time.perf_counter()
    photo_like, drawn = make_sheet(), make_drawn()
    print(f"4K sheets ({WIDTH}x{HEIGHT}) made in {time.perf_counter() - t:.1f}s")
    ratio_a, peak_a = timed("photo-like panels", photo_like)
    ratio_b, peak_b = timed(f"drawn corpus sheet ({DRAWN})", drawn)
    print(bench_line("split_time_ratio", max(ratio_a, ratio_b), "x_decode", "<=", 1.5))
    print(bench_line("split_peak_memory", max(peak_a, peak_b), "MB", "<", 200))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
