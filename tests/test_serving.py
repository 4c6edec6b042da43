"""Serving safely: `make run` is debug-off by default and stops cleanly on SIGTERM; error pages
carry the same security headers as every page; a revoked or expired share link says so on
every page it used to open."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone

from characters import services
from characters.views.auth import RateLimitedLoginView

ROOT = Path(__file__).resolve().parent.parent

# Headers about how a response is cached or encoded, which differ by nature between pages;
# every other header (the security ones) must be the same on an error page as on a page.
REPRESENTATION = {"content-type", "content-length", "cache-control", "expires", "vary"}


def _security_headers(response) -> dict[str, str]:
    return {
        # Error pages run no script, so their policy has no nonce to allow one with.
        name.lower(): re.sub(r" 'nonce-[^']*'", "", value)
        for name, value in response.headers.items()
        if name.lower() not in REPRESENTATION
    }


@pytest.mark.django_db
class TestErrorPages:
    def test_every_error_page_carries_the_headers_of_a_normal_page(
        self, client, make_user, project, monkeypatch
    ):
        normal = _security_headers(client.get(reverse("login")))
        assert {"content-security-policy", "x-frame-options"} <= set(normal)

        not_found = client.get("/no-such-page/")
        bad_host = client.get(reverse("login"), HTTP_HOST="evil.example")
        client.force_login(make_user("stranger"))
        csrf = type(client)(enforce_csrf_checks=True)
        forbidden_csrf = csrf.post(reverse("login"), {"username": "x", "password": "y"})

        def boom(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(RateLimitedLoginView, "get", boom)
        client.raise_request_exception = False
        server_error = client.get(reverse("login"))

        pages = {404: not_found, 400: bad_host, 403: forbidden_csrf, 500: server_error}
        for status, response in pages.items():
            assert response.status_code == status
            assert _security_headers(response) == normal, status

    @pytest.mark.parametrize(
        ("status", "words"),
        [
            (404, "This page does not exist"),
            (400, "Turnaround could not read that request"),
            (500, "Something went wrong on our side"),
        ],
    )
    def test_error_pages_are_the_products_own_not_djangos(self, client, monkeypatch, status, words):
        if status == 400:
            response = client.get("/", HTTP_HOST="evil.example")
        elif status == 500:
            monkeypatch.setattr(RateLimitedLoginView, "get", lambda *a, **k: 1 / 0)
            client.raise_request_exception = False
            response = client.get(reverse("login"))
        else:
            response = client.get("/no-such-page/")
        html = response.content.decode()
        assert response.status_code == status
        assert words in html and "css/app.css" in html
        assert "URLconf" not in html and "Traceback" not in html

    def test_a_failed_csrf_check_says_the_form_expired(self, client):
        csrf = type(client)(enforce_csrf_checks=True)
        response = csrf.post(reverse("login"), {"username": "x", "password": "y"})
        assert response.status_code == 403
        assert "This form has expired" in response.content.decode()


# --- share links that ended ------------------------------------------------------------------


@pytest.mark.django_db
class TestEndedShareLink:
    @pytest.mark.parametrize("how", ["revoked", "expired"])
    def test_every_page_the_link_opened_says_it_ended(
        self, guest_client, owner, character, cast, how
    ):
        (candidate,) = cast(character, owner, count=1)
        client, link = guest_client("comment")
        pages = [
            reverse("board", args=["lighthouse"]),
            reverse("character", args=["lighthouse", "mara"]),
            reverse("activity", args=["lighthouse"]),
            reverse("shots", args=["lighthouse"]),
            reverse("asset", args=["lighthouse", candidate.image_id, "thumb"]),
        ]
        for url in pages:
            assert client.get(url).status_code == 200, url
        if how == "revoked":
            services.share_link_revoke(link=link, user=owner)
        else:
            type(link).objects.filter(pk=link.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )
        title = "This link was revoked" if how == "revoked" else "This link has expired"
        for url in pages:
            response = client.get(url)
            assert response.status_code == 410, url
            assert title in response.content.decode(), url
            assert response["Cache-Control"] == "no-store"
        # The character page's poll: 410 too, and htmx reloads the page into the message.
        poll = client.get(
            reverse("character-changes", args=["lighthouse", "mara"]) + "?since=0",
            HTTP_HX_REQUEST="true",
        )
        assert poll.status_code == 410 and poll["HX-Refresh"] == "true"
        assert title in poll.content.decode()

    def test_a_member_with_an_old_grant_still_sees_the_project(
        self, client, share_link, owner, project
    ):
        link, token = share_link("view")
        client.get(f"/s/{token}")
        services.share_link_revoke(link=link, user=owner)
        client.force_login(owner)
        assert client.get(reverse("board", args=["lighthouse"])).status_code == 200

    def test_a_grant_for_another_project_is_the_plain_404(self, guest_client, other_project, owner):
        client, link = guest_client("view")
        services.share_link_revoke(link=link, user=owner)
        another, _ = other_project
        assert client.get(reverse("board", args=[another.slug])).status_code == 404


# --- settings by default ---------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "TURNAROUND_", "AWS_"))
    }
    return {**keep, **extra}


def _settings(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import studio.settings as s; print({expression})"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


class TestDefaults:
    def test_debug_is_off_on_loopback_with_a_secret_key_made_once_in_var(self, tmp_path):
        env = _clean_env(TURNAROUND_VAR_DIR=str(tmp_path))
        first = _settings(env, "s.DEBUG, s.ALLOWED_HOSTS, s.HTTPS, len(s.SECRET_KEY)")
        assert first.stdout.split(None, 1)[0] == "False"
        assert "['127.0.0.1', 'localhost', '[::1]'] False 67" in first.stdout
        key_file = tmp_path / "secret_key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key not in first.stdout + first.stderr
        again = _settings(env, "s.SECRET_KEY == open(s.VAR_DIR / 'secret_key').read().strip()")
        assert again.stdout.strip() == "True" and key_file.read_text().strip() == key
        assert list(tmp_path.iterdir()) == [key_file]  # no temporary file left behind

    def test_development_is_one_variable_away(self, tmp_path):
        out = _settings(
            _clean_env(TURNAROUND_VAR_DIR=str(tmp_path), DJANGO_DEBUG="1"), "s.DEBUG, s.HTTPS"
        )
        assert out.stdout.strip() == "True False"

    def test_naming_a_public_host_turns_on_the_https_protections(self, tmp_path):
        env = _clean_env(
            TURNAROUND_VAR_DIR=str(tmp_path), DJANGO_ALLOWED_HOSTS="turnaround.example.com"
        )
        out = _settings(env, "s.HTTPS, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT")
        assert out.stdout.strip() == "True True True"
        lan = _settings(
            {**env, "DJANGO_HTTPS": "0"}, "s.HTTPS, hasattr(s, 'SESSION_COOKIE_SECURE')"
        )
        assert lan.stdout.strip() == "False False"


# --- make run, for real ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = {int(p) for p in f.read().split()}
            except OSError:
                continue
            todo += children - found
            found |= children
    return found


def _running(pids: set[int]) -> set[int]:
    """The pids still running (zombies, dead but not yet reaped, do not count)."""
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _ignore_sigint() -> None:
    # As a server started from a background shell (`make run &`) finds it: SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.worker
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="walks /proc (Linux)")
def test_make_run_serves_safely_and_a_sigterm_leaves_nothing_running(tmp_path):
    port = _free_port()
    venv = Path(sys.prefix)
    env = _clean_env(
        TURNAROUND_VAR_DIR=str(tmp_path / "var"),
        PORT=str(port),
        TURNAROUND_WORKERS="1",
        TURNAROUND_IMAGE_WORKERS="1",
        TURNAROUND_VIDEO_WORKERS="1",
    )
    log = (tmp_path / "make-run.log").open("w")
    # `-o` keeps make from reinstalling the virtualenv the tests already run in.
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", f"{venv}/.installed", "run", f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_ignore_sigint,
    )
    base = f"http://127.0.0.1:{port}"
    before: set[int] = {make.pid}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert make.poll() is None, (tmp_path / "make-run.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.5)
        # Debug is off: the product's 404, not Django's list of URL patterns, with the headers.
        missing = httpx.get(f"{base}/no-such-page/", timeout=10)
        assert missing.status_code == 404 and "This page does not exist" in missing.text
        assert "URLconf" not in missing.text
        assert "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]
        # Static files come from WhiteNoise (runserver serves none with debug off).
        css = httpx.get(f"{base}/static/css/app.css", timeout=10)
        assert css.status_code == 200 and "neutral dark-grey" in css.text
        # Every lane's cluster is up: ticker + 3 × (sentinel, worker, pusher, monitor) + web.
        while len(_descendants(make.pid)) < 15 and time.monotonic() < deadline:
            time.sleep(0.5)
        before |= _descendants(make.pid)
        assert len(before) >= 15, before
        groups = {os.getpgid(pid) for pid in _running(before)}

        stopped_at = time.monotonic()
        os.killpg(make.pid, signal.SIGTERM)  # what a supervisor or `kill %1` does
        while _running(before) and time.monotonic() - stopped_at < 30:
            time.sleep(0.1)
        took = time.monotonic() - stopped_at
        print(f"SIGTERM stopped {len(before)} processes in {took:.2f} s")
        assert not _running(before), f"still running after {took:.1f} s: {_running(before)}"
        # Nothing else in any of those process groups either (a process forked after the list).
        strays = {
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit() and _running({int(p)}) and _pgid(int(p)) in groups
        }
        assert not strays
        # Stopped well within a supervisor's usual 10 s before SIGKILL.
        assert took < 10, took
        make.wait(timeout=5)
    finally:
        for pid in _running(before | _descendants(make.pid)):  # a failed run leaves nothing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        make.wait(timeout=10)
        log.close()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
