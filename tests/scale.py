"""Helpers for tests that run real django-q2 workers against the test database.

`Worker` starts `manage.py worker` (every lane, and the provider-check ticker) in its own
process group on the database the test uses
(SQLite file or PostgreSQL), on its own queue name so parallel test processes sharing one Redis
never take each other's tasks, and with the provider settings the test chose.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"  # four slashes: an absolute path
    user = s["USER"] or "postgres"
    return f"postgresql://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def provider_env() -> dict[str, str]:
    """The provider settings as the test left them, for the worker's environment."""
    env = {}
    for name in (
        "RECRAFT_API_KEY",
        "RECRAFT_API_BASE",
        "RECRAFT_MODEL",
        "ARK_API_KEY",
        "ARK_API_BASE",
        "SEEDANCE_MODEL",
    ):
        env[name] = str(getattr(settings, name))
    env["TURNAROUND_DOWNLOAD_HOSTS"] = ",".join(settings.TURNAROUND_DOWNLOAD_HOSTS)
    return env


class Worker:
    def __init__(
        self,
        *,
        queue: str,
        workers: int = 2,
        extra: dict[str, str] | None = None,
        lanes: tuple[str, ...] = (),
    ):
        self.queue = queue
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            DATABASE_URL=database_url(),
            DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
            TURNAROUND_QUEUE_NAME=queue,
            TURNAROUND_WORKERS=str(workers),
            TURNAROUND_IMAGE_WORKERS="1",
            TURNAROUND_VIDEO_WORKERS="1",
            TURNAROUND_QUEUE_POLL="0.05",
            TURNAROUND_SYNC_TASKS="0",
            DJANGO_LOG_LEVEL="WARNING",
        )
        env.update(extra or {})
        lanes = [arg for lane in lanes for arg in ("--lane", lane)]
        log_path = Path(settings.MEDIA_ROOT).parent / f"qcluster-{uuid.uuid4().hex[:6]}.log"
        self.log = log_path.open("w")  # kept open for the worker's lifetime; closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", *lanes],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole cluster: sentinel, pusher, monitor and every worker, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
