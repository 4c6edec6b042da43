"""Shared helpers for the benchmarks: throwaway databases, a real qcluster, percentiles.

Not a benchmark itself (the Makefile runs bench/bench_*.py only). Every helper cleans up what
it made: the temporary folder, the throwaway PostgreSQL database, the qcluster process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PROVIDER_VARS = ("RECRAFT_API_KEY", "GEMINI_API_KEY", "ARK_API_KEY", "REDIS_URL")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    load = os.getloadavg()
    return (
        f"nproc {os.cpu_count()}, Python {sys.version.split()[0]}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


@contextmanager
def workdir(prefix: str):
    """A temporary folder for the SQLite file, media and logs; removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"turnaround-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'bench.sqlite3').resolve()}"  # four slashes: absolute


def redis_reachable(url: str) -> str:
    """'' when Redis answers PING at url, else why not."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return ""
    except Exception as exc:  # any failure means "skip"
        return f"{type(exc).__name__}: {exc}"


def redis_forget(url: str, queue: str) -> None:
    """Delete the keys django-q2 left on the broker for this queue name."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
    except Exception as exc:  # best effort: the keys expire or are harmless
        print(f"  (could not remove the Redis keys of {queue}: {type(exc).__name__})")


@contextmanager
def postgres_database(prefix: str):
    """A throwaway PostgreSQL database (yields its URL, or '' if PostgreSQL is unreachable)."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        print(f"  (PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__})")
        yield ""
        return
    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without provider keys or a broker, plus extra: offline unless told otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    env.update(DJANGO_LOG_LEVEL="WARNING", TURNAROUND_SYNC_TASKS="0")
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class Cluster:
    """`manage.py worker` (every lane, or the lanes given) in its own process group, logging
    to a file in the work folder."""

    def __init__(self, env: dict[str, str], log: Path, lanes: tuple[str, ...] = ()):
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", *[a for n in lanes for a in ("--lane", n)]],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: every cluster, worker and the ticker, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_line(name: str, value: float, unit: str, op: str, goal: float) -> str:
    """The machine-readable figure every bench prints last:
    `BENCH <name> <value> <unit> goal <op> <number> <ok|missed>`."""
    ok = {"<=": value <= goal, "<": value < goal, "==": value == goal, ">=": value >= goal}[op]
    return f"BENCH {name} {value:.2f} {unit} goal {op} {goal:g} {'ok' if ok else 'missed'}"
