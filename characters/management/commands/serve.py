"""Run the web server and the workers (every lane, `manage.py worker`) together, and stop both.

Each child runs in its own process group (its own session), so a Ctrl-C at the terminal or a
signal to this process reaches them only through here. SIGTERM, SIGINT and SIGHUP all stop
both the same way: SIGTERM to each child's whole group (the web server, the worker's ticker,
its lane sentinels and their worker processes), a wait of up to STOP_GRACE seconds, then
SIGKILL for anything left in those groups. SIGINT is not forwarded as SIGINT because a server
started from a background shell ignores it. A task cut short is handed out again by the
requeue job (docs/deploy.md, Delivery).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError

# Under the 10 s most supervisors (docker stop, systemd's default is 90 s) allow before SIGKILL.
STOP_GRACE = 8.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Command(BaseCommand):
    help = "Start the web server and the workers (every lane) together; any stop signal stops both."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--reload",
            action="store_true",
            help="restart the web server when code changes (development, `make dev`)",
        )

    def handle(self, *args, host: str, port: str, reload: bool, **options) -> None:
        stopping: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            stopping.append(signum)

        for signum in STOP_SIGNALS:
            signal.signal(signum, stop)
        manage = [sys.executable, "manage.py"]
        runserver = [*manage, "runserver", f"{host}:{port}"]
        if not reload:
            runserver.insert(3, "--noreload")
        children = [
            subprocess.Popen([*manage, "worker"], start_new_session=True),
            subprocess.Popen(runserver, start_new_session=True),
        ]
        worker, web = children
        self.stdout.write(
            f"Turnaround on http://{host}:{port}/ (web pid {web.pid}, worker pid {worker.pid}). "
            "Ctrl-C or SIGTERM stops both."
        )
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
        died = [] if stopping else [c for c in children if c.poll() is not None]
        left = stop_groups(children, grace=STOP_GRACE)
        if left:
            self.stderr.write(
                f"Killed {left} process group(s) still running after {STOP_GRACE:g} s."
            )
        if died:  # e.g. the port is taken: say so, and exit non-zero
            raise CommandError(
                ", ".join(f"{c.args[2]} exited with {c.returncode}" for c in died)
                + "; the other was stopped."
            )
        self.stdout.write("Stopped.")


def stop_groups(children: list[subprocess.Popen], *, grace: float) -> int:
    """SIGTERM each child's process group, wait up to `grace` seconds for the groups to empty,
    then SIGKILL what is left. Returns how many groups needed the SIGKILL."""
    for child in children:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
    killed = 0
    for child in children:
        while _group_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(child.pid):
            _signal_group(child.pid, signal.SIGKILL)
            killed += 1
        child.wait()
    return killed


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already empty
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether any process other than a zombie is left in the group (a zombie leader, not yet
    reaped by this process, still counts for killpg)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
