"""Benchmark: long provider waits never block the team.

Not a test; it never fails. The fakes are made as slow as the real services: Seedance takes
SHOT_SECONDS (120 s) per task, Recraft CAST_SECONDS (5 s) per portrait, Gemini SHEET_SECONDS
(30 s) per sheet. The fake provider server (tests/fakes/server.py) runs in its own process, so
its drawing and sleeping are not counted against the workers. On a temporary SQLite database
with the ORM broker (the embedded default), one `manage.py worker --lane L` per lane runs with
the settings' lane sizes, as docs/deploy.md describes. The locked references are made offline
in this process first.

Then: SHOTS shots are rendered (24, through the real Seedance client); once they are all
submitted and waiting, one user casts 4 candidates (real Recraft client) and generates 4 sheet
options at TURNAROUND_SHEET_IMAGE_SIZE (4K; real Gemini client). KILL_AT seconds after the
shots start, the video lane's whole process group is SIGKILLed and a new one started at once.
All the while the resident memory of every worker process is sampled.

Figures (goals from issue 12):
  cast_ratio     wall of the 4 candidates / CAST_SECONDS          <= 1.3
  sheet_ratio    wall of the 4 sheet options / SHEET_SECONDS      <= 1.3
  shots_wall     wall of all the shots, s      <= 1.3 x SHOT_SECONDS + TURNAROUND_CHECK_MAX_INTERVAL
  cluster_pss    peak proportional resident memory of all worker processes, MB   < 1024
                 (RSS summed over processes is printed too: it counts forked shared pages
                 once per process, so it overstates what the cluster holds)
  shots_lost     shots that did not succeed                        == 0
  extra_charges  Seedance tasks created beyond one per shot        == 0

Durations are configurable, so a quick version can be run:
  bench/bench_waits.py                       # the full run (about 3 minutes)
  bench/bench_waits.py --quick               # shots 20 s, cast 2 s, sheets 6 s at 1K
  bench/bench_waits.py --shot-seconds 60 --shots 12 --kill-at 30 --sheet-size 2K
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    Cluster,
    bench_line,
    clean_env,
    free_port,
    machine,
    sqlite_url,
)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--shots", type=int, default=24)
parser.add_argument("--shot-seconds", type=float, default=120.0)
parser.add_argument("--cast-seconds", type=float, default=5.0)
parser.add_argument("--sheet-seconds", type=float, default=30.0)
parser.add_argument("--sheet-size", default="4K", choices=["1K", "2K", "4K"])
parser.add_argument("--kill-at", type=float, default=60.0, help="0: no SIGKILL")
parser.add_argument("--quick", action="store_true")
ARGS = parser.parse_args()
if ARGS.quick:
    ARGS.shot_seconds, ARGS.cast_seconds, ARGS.sheet_seconds = 20.0, 2.0, 6.0
    ARGS.sheet_size, ARGS.kill_at = "1K", 10.0

WORK = Path(tempfile.mkdtemp(prefix="turnaround-waits-"))
PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
WEB_PORT = free_port()  # the app itself: Seedance's asset library downloads references from it
os.environ.clear()
os.environ.update(
    clean_env(
        DATABASE_URL=sqlite_url(WORK),
        DJANGO_MEDIA_ROOT=str(WORK / "media"),
        TURNAROUND_QUEUE_NAME=f"bench-waits-{os.getpid()}",
        RECRAFT_API_KEY="fake-recraft-key",
        RECRAFT_API_BASE=f"{BASE}/recraft/v1",
        GEMINI_API_KEY="fake-gemini-key",
        GEMINI_API_BASE=f"{BASE}/gemini",
        ARK_API_KEY="fake-ark-key",
        ARK_API_BASE=f"{BASE}/ark/api/v3",
        ARK_ACCESS_KEY="AKFAKEACCESSKEY0001",  # tests.fakes.server.ARK_ACCESS_KEY
        ARK_SECRET_KEY="fake-ark-secret-key",  # noqa: S106 (the fake server's published key)
        ARK_ASSET_API_BASE=f"{BASE}/ark-open",
        TURNAROUND_PUBLIC_URL=f"http://127.0.0.1:{WEB_PORT}",
        TURNAROUND_ROUTE_UPSCALE="offline",
        TURNAROUND_DOWNLOAD_HOSTS=f"127.0.0.1:{PORT}",
        TURNAROUND_SHEET_IMAGE_SIZE=ARGS.sheet_size,
        TURNAROUND_PROVIDER_READ_TIMEOUT=str(max(90, ARGS.sheet_seconds * 3)),
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

from characters import services  # noqa: E402
from characters.models import Character, Generation, ReferenceAsset, Shot  # noqa: E402
from characters.services import references  # noqa: E402


def admin(path: str, payload: dict | None = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(f"{BASE}/_admin/{path}", data=data, timeout=10) as response:
        return json.loads(response.read())


class Memory(threading.Thread):
    """Samples the summed RSS and PSS of every process in the clusters' process groups."""

    def __init__(self, clusters: dict) -> None:
        super().__init__(daemon=True)
        self.clusters = clusters  # lane -> Cluster, read at each sample (a lane is restarted)
        self.peak_rss = self.peak_pss = 0.0
        self.at_peak: list = []
        self.stopping = threading.Event()

    def sample(self) -> tuple[float, float, list]:
        lanes = {c.process.pid: lane for lane, c in list(self.clusters.items())
                 if c.process.poll() is None}  # fmt: skip
        rss = pss = 0
        each = []  # (PSS MB, lane, pid, name) of every process, for the breakdown at the peak
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                lane = lanes.get(os.getpgid(int(pid)))
                if lane is None:
                    continue
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
                            each.append((int(line.split()[1]) / 1024, lane, pid))
            except (OSError, ProcessLookupError):
                continue
        return rss / 1024, pss / 1024, each

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            rss, pss, each = self.sample()
            if pss > self.peak_pss:
                self.at_peak = sorted(each, reverse=True)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)

    def breakdown(self) -> str:
        """The peak sample's PSS by lane, and its largest processes."""
        by_lane: dict[str, list[float]] = {}
        for mb, lane, _ in self.at_peak:
            by_lane.setdefault(lane, []).append(mb)
        lanes = ", ".join(f"{lane} {sum(mbs):.0f} MB in {len(mbs)} processes"
                          for lane, mbs in by_lane.items())  # fmt: skip
        largest = ", ".join(f"{lane} {mb:.0f}" for mb, lane, _ in self.at_peak[:6])
        return f"{lanes}; largest (MB): {largest}"


def wait_final(ids: list[int], timeout: float) -> float | None:
    """Seconds until every generation is final, polled every 0.2 s; None on timeout."""
    started = time.monotonic()
    pending = Generation.objects.filter(pk__in=ids).exclude(status__in=Generation.FINAL)
    while time.monotonic() - started < timeout:
        if not pending.exists():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def setup(user) -> tuple[Character, Character, Character]:
    """Mara with face and sheet locked (for shots), Noor with a face locked (for sheets),
    Ike with nothing (for casting). Made offline, inline, in this process."""
    routes = settings.TURNAROUND_ROUTES
    settings.TURNAROUND_ROUTES = {stage: "offline" for stage in routes}
    size = settings.TURNAROUND_SHEET_IMAGE_SIZE
    settings.TURNAROUND_SHEET_IMAGE_SIZE = "1K"
    Conf.SYNC = True
    project = services.project_create(name="Bench", owner=user, slug="bench")
    made = []
    for name, brief in (("Mara", "A woman, short grey hair."), ("Noor", "A man, dark beard.")):
        character = Character.objects.create(
            project=project, name=name, slug=name.lower(), brief=brief
        )
        (face,) = services.casting_start(character=character, user=user, count=1)
        face.refresh_from_db()
        services.candidate_approve(candidate=face, user=user)
        made.append(character)
    (option,) = services.sheet_generate(character=made[0], user=user, count=1)
    option.refresh_from_db()
    services.sheet_lock(option=option, user=user)
    ike = Character.objects.create(project=project, name="Ike", slug="ike", brief="A young man.")
    Conf.SYNC = False
    settings.TURNAROUND_ROUTES = routes
    settings.TURNAROUND_SHEET_IMAGE_SIZE = size
    for c in made:
        c.refresh_from_db()
    return made[0], made[1], ike


def interactive(ike, noor, user, label: str, kill: tuple | None = None) -> dict:
    """Cast 4 candidates and generate 4 sheet options at once; print and return each batch's
    wall / its fake latency. With kill=(clusters, started), SIGKILL the video lane at KILL_AT."""
    cast_t = time.monotonic()
    cast_ids = [c.generation_id for c in services.casting_start(character=ike, user=user, count=4)]
    sheet_t = time.monotonic()
    options = services.sheet_generate(character=noor, user=user, count=4)
    sheet_ids = [o.generation_id for o in options]
    walls: dict[str, float | None] = {}

    def measure(name: str, ids: list[int], since: float, timeout: float) -> None:
        try:
            done = wait_final(ids, timeout)
            walls[name] = None if done is None else time.monotonic() - since
        finally:
            connection.close()

    watchers = [
        threading.Thread(target=measure, args=("cast", cast_ids, cast_t, 120)),
        threading.Thread(target=measure, args=("sheet", sheet_ids, sheet_t, 300)),
    ]
    for w in watchers:
        w.start()
    killed = ""
    if kill is not None and ARGS.kill_at:
        clusters, started = kill
        time.sleep(max(0.0, started + ARGS.kill_at - time.monotonic()))
        shots = Generation.objects.filter(stage="shot", status="running", check_at__isnull=True)
        held = shots.count()
        clusters["video"].kill()
        clusters["video"] = Cluster(dict(os.environ), WORK / "video-2.log", lanes=("video",))
        killed = (
            f"video lane SIGKILLed at {time.monotonic() - started:.0f} s "
            f"({held} shot(s) held by a worker at that moment) and restarted"
        )
    for w in watchers:
        w.join()
    print(f"\ncasting and sheets {label} (enqueue -> all final, this process's clock):")
    ratios: dict = {"killed": killed}
    for name, ids, latency in (
        ("cast", cast_ids, ARGS.cast_seconds),
        ("sheet", sheet_ids, ARGS.sheet_seconds),
    ):
        rows = Generation.objects.filter(pk__in=ids)
        waits = [(g.started_at - g.created_at).total_seconds() for g in rows if g.started_at]
        runs = [
            (g.finished_at - g.started_at).total_seconds()
            for g in rows
            if g.finished_at and g.started_at
        ]
        states = sorted({g.status for g in rows})
        wall = walls.get(name)
        ratios[name] = float("inf") if wall is None else wall / latency
        shown = "timed out" if wall is None else f"{wall:.1f} s = {wall / latency:.2f}x"
        print(f"  {name:6} {shown} its {latency:g} s; queue wait max "
              f"{max(waits, default=0):.1f} s, run max {max(runs, default=0):.1f} s; "
              f"{states}")  # fmt: skip
    if killed:
        print(f"  {killed}")
    return ratios


def main() -> None:
    fake_log = (WORK / "fake.log").open("w")
    server = ["-m", "tests.fakes.server", "--port", str(PORT)]
    fake = subprocess.Popen(
        [sys.executable, *server, "--task-seconds", str(ARGS.shot_seconds)],
        cwd=ROOT,
        stdout=fake_log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    web = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{WEB_PORT}"],
        cwd=ROOT,
        stdout=fake_log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    clusters: dict[str, Cluster] = {}
    memory = None
    try:
        call_command("migrate", verbosity=0)
        for _ in range(100):
            try:
                admin("requests")
                break
            except OSError:
                time.sleep(0.1)
        user = get_user_model().objects.create_user("bench", password=None)
        t = time.perf_counter()
        mara, noor, ike = setup(user)
        lanes = settings.TURNAROUND_LANES
        interval = settings.TURNAROUND_CHECK_MAX_INTERVAL
        print(
            f"waits: {ARGS.shots} shots (fake Seedance {ARGS.shot_seconds:.0f} s each), then 4 "
            f"candidates (fake Recraft {ARGS.cast_seconds:.0f} s) and 4 sheet options (fake "
            f"Gemini {ARGS.sheet_seconds:.0f} s, {ARGS.sheet_size}); SQLite + ORM broker"
        )
        print(
            "lanes: "
            + ", ".join(f"{n} {c['workers']} workers" for n, c in lanes.items())
            + f"; checks back off from {settings.TURNAROUND_SEEDANCE_POLL_INTERVAL:g} s to "
            f"{interval:g} s; setup {time.perf_counter() - t:.1f} s; {machine()}"
        )
        print("(2 cores shared with other work: figures are from one run, under that load)")

        env = dict(os.environ)
        for lane in lanes:
            clusters[lane] = Cluster(env, WORK / f"{lane}.log", lanes=(lane,))
        memory = Memory(clusters)
        time.sleep(4)  # the clusters fork their workers
        memory.start()
        # Warm the workers up (their first task imports the clients and image code) with the
        # fakes answering at once; only then do they become as slow as the real services.
        interactive(ike, noor, user, "to warm the workers up (fakes at full speed)")
        forever = 10**9
        admin("faults", {"route": "recraft.generate", "kind": "latency",
                         "seconds": ARGS.cast_seconds, "times": forever})  # fmt: skip
        admin("faults", {"route": "gemini.generate", "kind": "latency",
                         "seconds": ARGS.sheet_seconds, "times": forever})  # fmt: skip

        alone = interactive(ike, noor, user, "alone (no shots yet), for comparison")

        # Day one with real keys: Seedance takes the locked face and panels only from its asset
        # library. Locking the sheet ingests them (here: the sync the lock enqueues, run now
        # that Seedance is the route); the library downloads each from the app's public URL.
        ingest_t = time.monotonic()
        references.references_sync_on_commit(character_id=mara.pk)  # outside a transaction: now
        rows = ReferenceAsset.objects.filter(character=mara, provider="seedance", current=True)
        while time.monotonic() - ingest_t < 120:
            states = set(rows.values_list("status", flat=True))
            if states and states <= {"active", "refused"}:
                break
            time.sleep(0.2)
        states = dict(rows.values_list("kind", "status"))
        print(f"\nreferences in Seedance's asset library after {time.monotonic() - ingest_t:.1f} "
              f"s: {len(states)} ({', '.join(sorted(set(states.values())))})")  # fmt: skip

        started = time.monotonic()
        shots = [
            services.shot_create(
                project=mara.project, user=user, prompt=f"Shot {n}: she turns", characters=[mara]
            )
            for n in range(ARGS.shots)
        ]
        shot_ids = list(Shot.objects.filter(pk__in=[s.pk for s in shots]).values_list(
            "generation_id", flat=True))  # fmt: skip
        waiting = Generation.objects.filter(pk__in=shot_ids, check_at__isnull=False)
        while waiting.count() < len(shot_ids) and time.monotonic() - started < 120:
            time.sleep(0.1)
        submitted = time.monotonic() - started
        print(f"\n{len(shot_ids)} shots submitted and waiting after {submitted:.1f} s")

        loaded = interactive(ike, noor, user, "while the shots render", kill=(clusters, started))
        budget = 1.3 * ARGS.shot_seconds + interval
        shots_wall = wait_final(shot_ids, budget * 2 + 300)
        shots_wall = None if shots_wall is None else time.monotonic() - started
        memory.stopping.set()
        memory.join()

        gens = Generation.objects.filter(pk__in=shot_ids)
        lost = gens.exclude(status="succeeded").count()
        creates = sum(1 for r in admin("requests") if r["route"] == "ark.create")
        renders = [s.renders.count() for s in Shot.objects.filter(pk__in=[s.pk for s in shots])]
        spans = [(g.finished_at - g.created_at).total_seconds() for g in gens if g.finished_at]
        checks = [g.checks for g in gens]
        shown = "timed out" if shots_wall is None else f"{shots_wall:.1f} s"
        print(f"\nshots:\n  shots  {shown} for {len(shot_ids)} (budget {budget:.0f} s = 1.3 x "
              f"{ARGS.shot_seconds:g} + {interval:g}); each {min(spans, default=0):.0f}-"
              f"{max(spans, default=0):.0f} s; checks per shot {min(checks, default=0)}-{max(checks, default=0)}; "
              f"attempts {sorted({g.attempts for g in gens})}")  # fmt: skip
        print(f"  nothing lost: {len(shot_ids) - lost}/{len(shot_ids)} succeeded, "
              f"{creates} Seedance tasks created, renders per shot {sorted(set(renders))}"
              + (f"; {loaded['killed']}" if loaded["killed"] else ""))  # fmt: skip
        print(f"  memory: peak PSS {memory.peak_pss:.0f} MB, peak RSS summed "
              f"{memory.peak_rss:.0f} MB over the worker processes")  # fmt: skip
        print(f"  at the peak: {memory.breakdown()}")

        for name in ("cast", "sheet"):
            print(f"  {name} with shots / alone: {loaded[name] / alone[name]:.2f}x")
        print()
        print(bench_line("waits_cast_ratio", loaded["cast"], "x", "<=", 1.3))
        print(bench_line("waits_sheet_ratio", loaded["sheet"], "x", "<=", 1.3))
        print(bench_line("waits_cast_ratio_alone", alone["cast"], "x", "<=", 1.3))
        print(bench_line("waits_sheet_ratio_alone", alone["sheet"], "x", "<=", 1.3))
        print(bench_line("waits_shots_wall", shots_wall or float("inf"), "s", "<=", budget))
        print(bench_line("waits_cluster_pss", memory.peak_pss, "MB", "<", 1024))
        print(bench_line("waits_shots_lost", lost, "shots", "==", 0))
        print(bench_line("waits_extra_charges", creates - len(shot_ids), "tasks", "==", 0))
    finally:
        if memory is not None:
            memory.stopping.set()
        for cluster in clusters.values():
            cluster.stop()
        for server in (fake, web):
            server.terminate()
            server.wait(10)
        fake_log.close()
        connection.close()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
