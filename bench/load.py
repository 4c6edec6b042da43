"""Load: gunicorn + a 2-worker qcluster under simulated reviewers while generations run.

    python bench/load.py [--duration 60] [--reviewers 30] [--generations 20] [--web-workers 4]
                         [--database-url postgresql://...]   (default: a fresh SQLite file)

Reviewers (threads, one httpx client each, logged in) poll candidate cards the way htmx does,
open the character page now and then, and shortlist/clear candidates. Prints requests/s,
p50/p95/p99 latency, errors, and how long the generations took. Never fails.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--reviewers", type=int, default=30)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="turnaround-load-"))
    env = {
        **os.environ,
        # four slashes: sqlite:////abs/path (three would be relative to the project folder)
        "DATABASE_URL": args.database_url or f"sqlite:///{work / 'load.sqlite3'}",
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "TURNAROUND_QUEUE_NAME": f"load-{os.getpid()}",
        "TURNAROUND_WORKERS": "2",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "1",
    }
    os.environ.update(env)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django_q.conf import Conf

    from characters import services
    from characters.models import Character, Generation

    call_command("migrate", verbosity=0)
    if args.database_url:  # a shared database: start from a clean bench project
        from characters.models import Project

        Project.objects.filter(slug="load").delete()
        get_user_model().objects.filter(username__startswith="load-").delete()
    users = [
        get_user_model().objects.create_user(f"load-{i}", password=None)
        for i in range(args.reviewers)
    ]
    project = services.project_create(name="Load", owner=users[0], slug="load")
    from characters.models import Membership

    Membership.objects.bulk_create(
        [Membership(project=project, user=u, role="editor") for u in users[1:]]
    )
    character = Character.objects.create(
        project=project, name="Mara", slug="mara", brief="A woman, short grey hair, grey eyes."
    )
    Conf.SYNC = True  # the reviewed candidates exist before the load starts
    ready = services.casting_start(character=character, user=users[0], count=8)
    Conf.SYNC = False
    cookies = []
    for user in users:
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "studio.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", str(args.web_workers), "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import httpx

    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)

    card_urls = [f"/p/load/c/mara/candidates/{c.pk}/" for c in ready]
    pending_urls: list[str] = []  # filled once the generations are queued, below
    latencies: dict[str, list[float]] = {"fragment": [], "page": [], "action": []}
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    seen_re = re.compile(r"seen=(\w+)")

    def reviewer(index: int) -> None:
        """One open character page, as htmx drives it: pending cards poll with the status they
        show, the page checks for others' changes, the reviewer culls and now and then reloads."""
        csrf = "a" * 32
        rng = random.Random(index)
        seen: dict[str, str] = {}  # card url → the status this reviewer's card shows
        with httpx.Client(
            base_url=base,
            cookies={"sessionid": cookies[index], "csrftoken": csrf},
            headers={"X-CSRFToken": csrf, "Referer": base + "/"},
            timeout=30,
        ) as client:
            while not stop.is_set():
                roll = rng.random()
                started = time.perf_counter()
                kind = "fragment"
                try:
                    waiting = [u for u in pending_urls if seen.get(u) != "final"]
                    if roll < 0.65 and waiting:
                        url = rng.choice(waiting)
                        r = client.get(
                            f"{url}?poll=1&seen={seen.get(url, 'queued')}",
                            headers={"HX-Request": "true"},
                        )
                        if r.status_code == 200:
                            match = seen_re.search(r.text)
                            seen[url] = match.group(1) if match else "final"
                    elif roll < 0.80:
                        r = client.get(
                            "/p/load/c/mara/changes?since=0", headers={"HX-Request": "true"}
                        )
                    elif roll < 0.85:
                        kind = "page"
                        r = client.get("/p/load/c/mara/")
                    else:
                        kind = "action"
                        r = client.post(
                            rng.choice(card_urls) + "decide",
                            data={"decision": rng.choice(["shortlist", "clear"])},
                            headers={"HX-Request": "true"},
                        )
                    ok = r.status_code in (200, 204, 286)
                    detail = str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, detail = False, type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies[kind].append(elapsed)
                    if not ok:
                        errors.append(detail)
                time.sleep(rng.uniform(0.2, 0.6))  # htmx polls every second per card

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(args.reviewers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    gen_started = time.perf_counter()
    pending = []
    for batch in range(0, args.generations, 8):
        pending += services.casting_start(
            character=character, user=users[0], count=min(8, args.generations - batch)
        )
    ids = [c.generation_id for c in pending]
    pending_urls.extend(f"/p/load/c/mara/candidates/{c.pk}/" for c in pending)
    gen_done = None
    while time.perf_counter() - started < args.duration:
        if (
            gen_done is None
            and not Generation.objects.filter(pk__in=ids)
            .exclude(status__in=Generation.FINAL)
            .exists()
        ):
            gen_done = time.perf_counter() - gen_started
        time.sleep(0.25)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    statuses = dict.fromkeys(Generation.Status.values, 0)
    for status in Generation.objects.filter(pk__in=ids).values_list("status", flat=True):
        statuses[status] += 1

    for proc in (web, worker):
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in (web, worker):
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(work, ignore_errors=True)

    everything = [x * 1000 for values in latencies.values() for x in values]
    db = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(f"load: {args.reviewers} reviewers, {args.web_workers} gunicorn workers, "
          f"2 qcluster workers, {db}, {wall:.0f} s")  # fmt: skip
    print(f"  requests        {len(everything)}  ({len(everything) / wall:.1f} req/s)")
    print(f"  {'kind':10} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, values in (
        ("all", everything),
        *((k, [x * 1000 for x in v]) for k, v in latencies.items()),
    ):
        if values:
            print(f"  {kind:10} {len(values):6d} {statistics.median(values):8.1f} "
                  f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f}")  # fmt: skip
    fragments = [x * 1000 for x in latencies["fragment"]]
    if fragments:
        p95 = percentile(fragments, 95)
        print(f"  fragments p95 {p95:.0f} ms (goal < 200 ms): {'ok' if p95 < 200 else 'OVER GOAL'}")
    print(f"  errors          {len(errors)}  {sorted(set(errors))[:5]}")
    print(f"  generations     {args.generations}: {statuses}")
    print(
        "  all final after "
        + (f"{gen_done:.1f} s" if gen_done is not None else "— (not within the run)")
    )
    from bench._common import bench_line

    print()
    if fragments:
        print(bench_line("load_fragments_p95", percentile(fragments, 95), "ms", "<", 200))
    print(bench_line("load_errors", len(errors), "errors", "==", 0))


if __name__ == "__main__":
    main()
