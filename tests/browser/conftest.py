"""Browser tests: real Chromium (Playwright, sync API) against pytest-django's live server, with
a real django-q2 worker process (`manage.py qcluster`) on the same SQLite file and media folder.

Nothing runs inline here: the page queues work, the worker does it, the page polls for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.server import FakeProvider
from tests.scale import database_url

# Playwright's sync API runs an event loop in this thread; Django's async-unsafe guard would
# otherwise refuse the test's own database queries.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# Provider settings the worker must not inherit from whoever runs the tests.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_MEDIA_ROOT",
    "TURNAROUND_SYNC_TASKS",
    "RECRAFT_API_KEY",
    "RECRAFT_API_BASE",
    "GEMINI_API_KEY",
    "GEMINI_API_BASE",
    "ARK_API_KEY",
    "ARK_API_BASE",
    "TURNAROUND_DOWNLOAD_HOSTS",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions, CSP violations and server errors seen by a page."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on(
            "console",
            lambda msg: (
                self.items.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on(
            "response",
            lambda r: self.items.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None,
        )
        # A CSP violation also reaches the console, but the event names the directive.
        page.add_init_script(
            """document.addEventListener("securitypolicyviolation", (e) =>
                 console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));"""
        )


@pytest.fixture
def page(chromium: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 1000}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = PageProblems()
    problems.watch(page)
    page.problems = problems
    yield page
    context.close()
    if problems.items:
        report = "The pages logged problems:\n" + "\n".join(problems.items)
        if request.node.stash.get(FAILED, False):
            print(report)  # the test failed already; this may say why
        else:
            pytest.fail(report)


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Save a full-page screenshot to test-results/<test>-<n>-<name>.png."""
    RESULTS.mkdir(exist_ok=True)
    counter = iter(range(1, 100))

    def take(name: str) -> Path:
        path = RESULTS / f"{request.node.name}-{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(page: Any) -> Callable[[str, str], None]:
    def run(username: str, password: str) -> None:
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)

    return run


# --- the worker ------------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM to qcluster itself: it stops its own workers, pusher and monitor.
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        # Its children live in the session we made for it: take any stragglers with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def qcluster(
    transactional_db: None, live_server: Any, settings: Any, tmp_path: Path, request, monkeypatch
) -> Iterator[Callable[..., Worker]]:
    """Start `manage.py worker` (every lane) on the live server's database, broker and media.

    Call it with extra environment (provider keys) once the test has set its settings. Each
    test gets a queue of its own, so nothing another test left on a shared Redis reaches it.
    """
    from django_q.conf import Conf

    started: list[Worker] = []
    queue = f"turnaround-browser-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    broker = {"REDIS_URL": settings.REDIS_URL} if settings.REDIS_URL else {}

    def start(**extra_env: str) -> Worker:
        media = Path(settings.MEDIA_ROOT).resolve()
        media.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env.update(
            DJANGO_SETTINGS_MODULE="studio.settings",
            # The live server's own database, SQLite file or PostgreSQL test database alike.
            DATABASE_URL=database_url(),
            TURNAROUND_QUEUE_NAME=queue,
            **broker,
            DJANGO_MEDIA_ROOT=str(media),
            TURNAROUND_WORKERS="2",
            TURNAROUND_IMAGE_WORKERS="2",
            TURNAROUND_VIDEO_WORKERS="1",
            TURNAROUND_QUEUE_POLL="0.1",
            PYTHONUNBUFFERED="1",
            **extra_env,
        )
        log = tmp_path / f"qcluster-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        started.append(worker)
        time.sleep(0.2)
        if process.poll() is not None:
            pytest.fail(f"qcluster exited at once:\n{worker.tail()}")
        return worker

    yield start
    for worker in started:
        worker.stop()
    if request.node.stash.get(FAILED, False):
        for worker in started:
            print(f"--- qcluster log ({worker.log}) ---\n{worker.tail(200)}")


# --- the fake provider -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    fake_server.reset()
    return fake_server


@pytest.fixture(autouse=True)
def _full_size_upscale(settings: Any) -> None:
    """The browser tests check the real 4K figure the page shows (unit tests use 1024)."""
    settings.TURNAROUND_UPSCALE_TARGET = 4096
