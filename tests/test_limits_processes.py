"""Limits and logs with real servers over loopback (issue 16, items 3 and 7): four gunicorn
workers share one count, and neither gunicorn's access log nor the development server's
request log keeps a link token.

The servers use the test database (SQLite file or PostgreSQL) and, when REDIS_URL is set (the
scale run), Redis as the shared cache, as a deployment would."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from characters import limits
from tests.scale import database_url

ROOT = Path(__file__).resolve().parent.parent
needs_scale = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="needs PostgreSQL and Redis: run `make test-scale` (sets DATABASE_URL and REDIS_URL)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A web server subprocess on the test database, its output in a file."""

    def __init__(self, command: list[str], port: int, log: Path):
        self.port = port
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            DATABASE_URL=database_url(),
            DJANGO_DEBUG="1",
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            TURNAROUND_CACHE_KEY_PREFIX=f"test-{secrets.token_hex(6)}",
            PYTHONUNBUFFERED="1",
        )
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/login/", timeout=2)
                break
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server did not start:\n{self.output()}") from None
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()


def _gunicorn(tmp_path: Path, workers: int) -> Server:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "studio/gunicorn_conf.py",
        "studio.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
    ]
    return Server(command, port, tmp_path / "gunicorn.log")


@pytest.fixture
def gunicorn4(transactional_db, tmp_path):
    server = _gunicorn(tmp_path, workers=4)
    yield server
    server.stop()


def _statuses(requests: list, threads: int = 8) -> list[int]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda send: send().status_code, requests))


def _wrong_share_tries(server: Server, count: int) -> list[int]:
    def one(n: int):
        return lambda: httpx.get(f"{server.url}/s/wrong-{n}-{'x' * 30}", timeout=30)

    return _statuses([one(n) for n in range(count)])


def _wrong_logins(server: Server, count: int) -> list[int]:
    page = httpx.get(f"{server.url}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    cookies = {"csrftoken": page.cookies["csrftoken"]}

    def one(n: int):
        data = {"csrfmiddlewaretoken": token, "username": "𝔳𝔦𝔠", "password": f"wrong-{n}"}
        return lambda: httpx.post(f"{server.url}/login/", data=data, cookies=cookies, timeout=30)

    return _statuses([one(n) for n in range(count)])


def _check_limits_hold(server: Server) -> None:
    # 39 wrong share tokens got through four workers before, with a limit of 10.
    share = _wrong_share_tries(server, 40)
    assert sorted(share) == [404] * limits.SHARE_PER_ADDRESS.allowed + [429] * 30, share
    logins = _wrong_logins(server, 20)
    assert sorted(logins) == [200] * limits.LOGIN_PER_USERNAME.allowed + [429] * 15, logins


def test_four_gunicorn_workers_share_one_count(gunicorn4, make_user):
    make_user("vic")
    _check_limits_hold(gunicorn4)


@pytest.mark.scale
@needs_scale
def test_four_gunicorn_workers_share_one_count_in_redis(gunicorn4, make_user, settings):
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    make_user("vic")
    _check_limits_hold(gunicorn4)


# --- access logs -----------------------------------------------------------------------------


def _visit_token_urls(server: Server, token: str) -> None:
    httpx.get(f"{server.url}/s/{token}", timeout=30)
    httpx.get(f"{server.url}/invite/{token}", timeout=30)
    httpx.get(f"{server.url}/r/{token}", timeout=30)
    httpx.get(f"{server.url}/login/?next=%2Finvite%2F{token}", timeout=30)
    # A page opened from a link names it in the Referer of everything it loads.
    httpx.get(
        f"{server.url}/static/css/app.css",
        headers={"Referer": f"{server.url}/s/{token}"},
        timeout=30,
    )


def _assert_redacted(log: str, token: str) -> None:
    assert token[:12] not in log, log
    assert "/s/[redacted]" in log and "/invite/[redacted]" in log, log
    assert "%2Finvite%2F[redacted]" in log, log


def test_gunicorn_access_log_keeps_no_token(transactional_db, tmp_path):
    # The deployment guide runs gunicorn with the config this test starts it with.
    assert "gunicorn -c studio/gunicorn_conf.py " in (ROOT / "docs/deploy.md").read_text()
    server = _gunicorn(tmp_path, workers=1)
    token = secrets.token_urlsafe(32)
    try:
        _visit_token_urls(server, token)
        time.sleep(0.5)  # the access line is written after the response
        log = server.output()
    finally:
        server.stop()
    _assert_redacted(log, token)
    assert f"{server.url}/s/[redacted]" in log  # the Referer, as gunicorn's format shows it


def test_development_server_log_keeps_no_token(transactional_db, tmp_path):
    port = _free_port()
    server = Server(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        port,
        tmp_path / "runserver.log",
    )
    token = secrets.token_urlsafe(32)
    try:
        _visit_token_urls(server, token)
        time.sleep(0.5)
        log = server.output()
    finally:
        server.stop()
    _assert_redacted(log, token)
    assert '"GET /s/[redacted] HTTP/1.1" 404' in log  # the request line is still there
