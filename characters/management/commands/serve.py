"""Run the web server and the workers (every lane, `manage.py worker`) together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the development web server and the workers (every lane) together."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, host: str, port: str, **options) -> None:
        manage = [sys.executable, "manage.py"]
        worker = subprocess.Popen([*manage, "worker"], start_new_session=True)
        web = subprocess.Popen(
            [*manage, "runserver", "--noreload", f"{host}:{port}"], start_new_session=True
        )
        self.stdout.write(
            f"Turnaround on http://{host}:{port}/ (web pid {web.pid}, worker pid {worker.pid}). Ctrl-C stops both."
        )
        children = [web, worker]

        def stop(*_: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT if child is web else signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                try:
                    web.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    continue
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("Stopped.")
