"""Benchmark: pipeline overhead for 4 sheet options against a provider that takes 2 s.

Not a test; it never fails. On a temporary SQLite database it starts the fake provider server
(tests/fakes/server.py) with a persistent 2 s latency fault on Gemini's generateContent (inclusive:
the fake answers 2 s after each request arrives, its own drawing included), routes
the sheet stage to gemini at the fake (its key, base URL and TURNAROUND_DOWNLOAD_HOSTS), with
TURNAROUND_SHEET_IMAGE_SIZE=1K so the fake's drawing stays small. Casting and the 4K upscale run
offline, inline, to give a character a locked face and a 4K portrait. Then it starts a real
qcluster with 4 workers, calls services.sheet_generate(count=4) and measures the wall time
until all 4 generations are final. Goal: wall / 2 s <= 1.15 (issue 10).

It also prints each generation's queue wait (started_at - created_at) and run time
(finished_at - started_at, which includes the request with the face, the 2 s, storing the
sheet and splitting it into panels). The broker is the ORM one (SQLite), the embedded default.

Run from the worktree: /work/main/.venv/bin/python bench/bench_pipeline.py [ROUNDS]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    Cluster,
    bench_line,
    clean_env,
    free_port,
    machine,
    median,
    sqlite_url,
)

LATENCY = 2.0
OPTIONS = 4
WORKERS = 4
ROUNDS = 3

WORK = Path(tempfile.mkdtemp(prefix="turnaround-pipeline-"))
PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
os.environ.clear()
os.environ.update(
    clean_env(
        DATABASE_URL=sqlite_url(WORK),
        DJANGO_MEDIA_ROOT=str(WORK / "media"),
        TURNAROUND_QUEUE_NAME=f"bench-pipeline-{os.getpid()}",
        TURNAROUND_WORKERS=str(WORKERS),
        GEMINI_API_KEY="fake-gemini-key",  # tests.fakes.server.GEMINI_KEY, checked in main()
        GEMINI_API_BASE=f"{BASE}/gemini",
        GEMINI_IMAGE_MODEL="gemini-3-pro-image",
        TURNAROUND_ROUTE_SHEET="gemini",
        TURNAROUND_DOWNLOAD_HOSTS=f"127.0.0.1:{PORT}",
        TURNAROUND_SHEET_IMAGE_SIZE="1K",
    )
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_q.conf import Conf  # noqa: E402
from django_q.models import OrmQ  # noqa: E402
from django_q.tasks import async_task, result  # noqa: E402

from characters import services  # noqa: E402
from characters.models import Character, Generation  # noqa: E402
from tests.fakes.server import GEMINI_KEY, FakeProvider  # noqa: E402


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)  # the wall is read to within 5 ms
    return False


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    if settings.GEMINI_API_KEY != GEMINI_KEY:
        print("the fake's Gemini key changed; update GEMINI_API_KEY here. Nothing measured.")
        return
    fake = FakeProvider()
    fake.start(port=PORT)
    # Inclusive: the fake answers LATENCY after each request arrives, its own drawing
    # included, so the provider takes exactly LATENCY and everything past it is ours.
    fake.add_fault("gemini.generate", "latency", times=10**9, seconds=LATENCY, inclusive=True)
    call_command("migrate", verbosity=0)

    user = get_user_model().objects.create_user("bench", password=None)
    project = services.project_create(name="Bench", owner=user, slug="bench")
    mara = Character.objects.create(
        project=project, name="Mara", slug="mara", brief="A woman, short grey hair, grey eyes."
    )
    t = time.perf_counter()
    Conf.SYNC = True  # casting and upscale: offline generator, inline
    (candidate,) = services.casting_start(character=mara, user=user, count=1)
    candidate.refresh_from_db()
    services.candidate_approve(candidate=candidate, user=user)
    Conf.SYNC = False
    candidate.refresh_from_db()
    face = candidate.image_4k
    print(
        f"pipeline: {OPTIONS} sheet options, {WORKERS} qcluster workers, fake Gemini with "
        f"{LATENCY:.0f} s latency, sheet size {settings.TURNAROUND_SHEET_IMAGE_SIZE} "
        "(TURNAROUND_SHEET_IMAGE_SIZE), ORM broker on SQLite"
    )
    print(
        f"locked face {face.width}x{face.height} ({face.byte_size / 1e6:.1f} MB "
        f"{face.mime}), made offline in {time.perf_counter() - t:.1f} s; {machine()}"
    )
    print("(2 shared cores: timings are noisy; the median of the rounds is the figure)")

    cluster = Cluster(dict(os.environ), WORK / "qcluster.log")
    try:
        warm = async_task("time.time")
        if not wait(lambda: result(warm) is not None, 90):
            print("the qcluster did not start within 90 s; nothing measured")
            return
        time.sleep(1.0)  # let all four workers finish importing
        walls = []
        busy = Generation.objects.exclude(status__in=Generation.FINAL)
        for r in range(rounds):
            # Each round alone: the last round's follow-ups (panel labels, identity scores, on
            # the video lane) finish first, so round 2 does not share the CPU with round 1's.
            settled = time.perf_counter()
            idle = wait(lambda: not OrmQ.objects.exists() and not busy.exists(), 60)
            if r:
                print(f"\n(the last round's follow-ups finished {time.perf_counter() - settled:.1f} s "
                      f"later{'' if idle else '; NOT within 60 s'})")  # fmt: skip
            started = time.perf_counter()
            options = services.sheet_generate(character=mara, user=user, count=OPTIONS)
            ids = [o.generation_id for o in options]
            pending = Generation.objects.filter(pk__in=ids).exclude(status__in=Generation.FINAL)
            finished = wait(lambda pending=pending: not pending.exists(), 120)
            wall = time.perf_counter() - started
            gens = list(Generation.objects.filter(pk__in=ids).order_by("pk"))
            statuses = [g.status for g in gens]
            print(f"\nround {r + 1}: wall {wall:.2f} s for {OPTIONS} options  "
                  f"wall/{LATENCY:.0f}s = {wall / LATENCY:.2f} (goal <= 1.15)  "
                  f"{'ok' if wall / LATENCY <= 1.15 else 'OVER GOAL'}"
                  f"{'' if finished else '  (NOT ALL FINAL within 120 s)'}")  # fmt: skip
            for g in gens:
                wait_s = (g.started_at - g.created_at).total_seconds() if g.started_at else None
                run_s = (
                    (g.finished_at - g.started_at).total_seconds()
                    if g.started_at and g.finished_at
                    else None
                )
                print(
                    f"  generation {g.pk}: {g.status:9} queue wait "
                    + (f"{wait_s:5.2f} s" if wait_s is not None else "   —   ")
                    + "  run "
                    + (f"{run_s:5.2f} s" if run_s is not None else "  —  ")
                    + (f"  overhead {run_s - LATENCY:+.2f} s" if run_s is not None else "")
                    + (f"  error: {g.error[:80]}" if g.error else "")
                )
            if all(s == "succeeded" for s in statuses):
                walls.append(wall)
        if walls:
            m = median(walls)
            print(f"\nmedian wall {m:.2f} s over {len(walls)} round(s): "
                  f"{m / LATENCY:.2f}x the provider's {LATENCY:.0f} s (goal <= 1.15)")  # fmt: skip
        print(f"fake Gemini generate requests: {len(fake.routed('gemini.generate'))}")
        print()
        ratio = median(walls) / LATENCY if walls else float("inf")
        print(bench_line("pipeline_ratio", ratio, "x", "<=", 1.15))
    finally:
        cluster.stop()
        fake.stop()


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        shutil.rmtree(WORK, ignore_errors=True)
