"""Benchmark: queue pick-up latency, django-q2's ORM broker against Redis.

Not a test; it never fails. For each broker it starts a real `manage.py qcluster` (one worker,
its own queue name, TURNAROUND_QUEUE_POLL as configured: the settings default unless the
environment sets it) on a throwaway database, enqueues N trivial tasks (`time.time`) one at a
time, and measures enqueue -> worker start as the task's returned time.time() minus the wall
time just before async_task(). Each broker runs in a fresh process, since the broker is chosen
when Django starts.

  orm             ORM broker on a temporary SQLite file (the embedded default)
  redis+sqlite    Redis broker (redis://127.0.0.1:6379/<BENCH_REDIS_DB, default 9>), SQLite
  redis+postgres  Redis broker, a throwaway PostgreSQL database

Redis and PostgreSQL rows are skipped with a message when they are not reachable.
Run from the worktree: /work/main/.venv/bin/python bench/bench_queue.py [N]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    Cluster,
    bench_line,
    clean_env,
    machine,
    median,
    percentile,
    postgres_database,
    redis_forget,
    redis_reachable,
    sqlite_url,
    wait_for,
    workdir,
)

N = 40
WARMUP = 3
GAP = 0.25  # seconds, at most, between one result and the next enqueue
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '9')}"


def child(n: int) -> None:
    """Runs with the broker's environment already set: migrate, start a cluster, measure."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django_q.tasks import async_task, result

    call_command("migrate", verbosity=0)
    cluster = Cluster(dict(os.environ), Path(os.environ["BENCH_LOG"]))
    latencies: list[float] = []
    lost = 0
    try:
        for i in range(WARMUP + n):
            # Arrivals at a random moment: not in lock-step with the ORM broker's poll sleep,
            # which starts right after the previous task was taken.
            time.sleep(random.uniform(0, GAP))
            enqueued = time.time()
            task_id = async_task("time.time", task_name=f"bench-{i}")
            box: dict = {}
            timeout = 60 if i == 0 else 15  # the first waits for the cluster to start

            def done(task_id=task_id, box=box) -> bool:
                box["r"] = result(task_id)
                return box["r"] is not None

            if not wait_for(done, timeout=timeout, interval=0.005):
                lost += 1
                continue
            if i >= WARMUP:
                latencies.append(box["r"] - enqueued)
    finally:
        cluster.stop()
    print(
        json.dumps(
            {"latencies": latencies, "lost": lost, "poll": settings.Q_CLUSTER["poll"]},
        )
    )


def run(label: str, env: dict[str, str], n: int) -> dict | None:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        print(f"{label:15} FAILED (exit {out.returncode}): {out.stderr.strip()[-400:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(label: str, data: dict | None) -> float | None:
    if data is None:
        return None
    ms = [x * 1000 for x in data["latencies"]]
    if not ms:
        print(f"{label:15} no task came back ({data['lost']} lost)")
        return None
    print(
        f"{label:15} n={len(ms):3}  median {median(ms):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms"
        f"   min {min(ms):6.1f}   max {max(ms):7.1f}   lost {data['lost']}   poll {data['poll']} s"
    )
    return median(ms)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N
    print(f"queue pick-up latency, {n} sequential tasks per broker, 1 worker ({machine()})")
    print("(2 shared cores: figures are medians of noisy samples)")
    results: dict[str, float | None] = {}
    pid = os.getpid()
    with workdir("queue") as work:
        (work / "orm").mkdir()
        env = clean_env(
            DATABASE_URL=sqlite_url(work / "orm"),
            DJANGO_MEDIA_ROOT=str(work / "media"),
            TURNAROUND_WORKERS="1",
            TURNAROUND_QUEUE_NAME=f"bench-queue-orm-{pid}",
            BENCH_LOG=str(work / "orm.log"),
        )
        results["orm"] = report("orm (sqlite)", run("orm", env, n))

        why = redis_reachable(REDIS_URL)
        if why:
            print(f"redis           skipped: {REDIS_URL} not reachable ({why})")
        else:
            (work / "redis").mkdir()
            queue = f"bench-queue-redis-{pid}"
            env = clean_env(
                DATABASE_URL=sqlite_url(work / "redis"),
                DJANGO_MEDIA_ROOT=str(work / "media"),
                REDIS_URL=REDIS_URL,
                TURNAROUND_WORKERS="1",
                TURNAROUND_QUEUE_NAME=queue,
                BENCH_LOG=str(work / "redis.log"),
            )
            try:
                results["redis"] = report("redis+sqlite", run("redis", env, n))
                with postgres_database("queue") as pg_url:
                    if pg_url:
                        env.update(DATABASE_URL=pg_url, BENCH_LOG=str(work / "redis-pg.log"))
                        results["redis+pg"] = report("redis+postgres", run("redis+pg", env, n))
            finally:
                redis_forget(REDIS_URL, queue)
    orm, redis = results.get("orm"), results.get("redis")
    if orm and redis:
        print(f"ratio orm/redis (median) {orm / redis:.1f}x")
    # No goal was set for pick-up latency; these bounds are regression lines, not targets:
    # the ORM broker within one poll interval (0.1 s), Redis within 10 ms.
    print()
    for label, value in results.items():
        if value is not None:
            name = "queue_pickup_" + label.replace("+", "_")
            print(bench_line(name, value, "ms", "<=", 100 if label == "orm" else 10))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
