"""The shared transport, unit by unit: retries, waits, redaction and the download allow-list."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime
from email.utils import formatdate

import httpx
import pytest

from characters.generators.base import GeneratorError
from characters.generators.gemini import GeminiGenerator
from characters.generators.http import (
    ProviderTransport,
    parse_retry_after,
    parse_retry_delay,
    redact_headers,
)
from characters.generators.recraft import RecraftGenerator

SECRET = "sk-live-0123456789abcdef"


def transport(handler, sleeps=None, **options) -> ProviderTransport:
    return ProviderTransport(
        provider="Test",
        base_url="https://api.example.test/v1",
        auth_headers={"Authorization": f"Bearer {SECRET}"},
        download_hosts=("img.example.test", "*.cdn.example.test"),
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
        transport=httpx.MockTransport(handler),
        rng=random.Random(1),
        **options,
    )


def test_it_parses_retry_after_seconds_and_http_dates():
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_it_parses_gemini_retry_info():
    body = {
        "error": {
            "code": 429,
            "details": [
                {"@type": "type.googleapis.com/google.rpc.Help"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"},
            ],
        }
    }
    assert parse_retry_delay(body) == 23.0
    assert parse_retry_delay({"error": {"details": []}}) is None
    assert parse_retry_delay("not a dict") is None


def test_it_honours_an_http_date_retry_after():
    calls = []
    later = datetime.now(UTC).timestamp() + 40
    date = formatdate(later, usegmt=True)

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": date}, text="slow down")
        return httpx.Response(200, json={"ok": True})

    sleeps: list[float] = []
    response = transport(handler, sleeps).request("GET", "/ping")
    assert response.attempts == 2
    assert 35 < sleeps[0] <= 40


def test_it_backs_off_with_full_jitter_within_the_cap():
    t = transport(lambda r: httpx.Response(200), backoff_base=1.0, backoff_cap=8.0)
    waits = [t.backoff(attempt) for attempt in (1, 2, 3, 4, 5, 6) for _ in range(20)]
    assert all(0 <= w <= 8.0 for w in waits)
    assert max(t.backoff(1) for _ in range(50)) <= 1.0


def test_it_gives_up_when_asked_to_wait_too_long():
    def handler(request):
        return httpx.Response(429, headers={"Retry-After": "3600"}, text="quota")

    sleeps: list[float] = []
    with pytest.raises(GeneratorError) as info:
        transport(handler, sleeps).request("POST", "/x", json_body={}, paid=True)
    assert info.value.permanent is False
    assert info.value.status_code == 429
    assert "3600" in str(info.value)
    assert sleeps == []


def test_it_treats_other_4xx_as_permanent_with_the_provider_text():
    def handler(request):
        return httpx.Response(
            402, text="not enough credits", headers={"content-type": "text/plain"}
        )

    with pytest.raises(GeneratorError) as info:
        transport(handler).request("POST", "/x", json_body={})
    assert info.value.permanent is True
    assert info.value.attempts == 1
    assert "not enough credits" in str(info.value)


def test_it_reads_json_errors_only_when_the_content_type_says_json():
    body = '{"error": {"code": "X", "message": "hidden"}}'

    def handler(request):
        return httpx.Response(400, text=body, headers={"content-type": "text/plain"})

    with pytest.raises(GeneratorError) as info:
        transport(handler).request("GET", "/x")
    assert '{"error"' in str(info.value)


def test_it_never_puts_the_key_in_errors_logs_or_reprs(caplog):
    caplog.set_level(logging.DEBUG)
    seen = []

    def handler(request):
        seen.append(request.headers["authorization"])
        if len(seen) < 3:
            return httpx.Response(503, text=f"overloaded for key {SECRET}")
        return httpx.Response(400, json={"error": {"message": f"bad key {SECRET}"}})

    t = transport(handler)
    with pytest.raises(GeneratorError) as info:
        t.request("GET", "/x")
    assert seen == [f"Bearer {SECRET}"] * 3  # the key was sent...
    assert SECRET not in str(info.value)  # ...and never shown
    assert "[redacted]" in str(info.value)
    assert caplog.records, "retries are logged"
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in repr(t)
    assert redact_headers({"Authorization": "Bearer x", "x-goog-api-key": "k", "a": "b"}) == {
        "Authorization": "[redacted]",
        "x-goog-api-key": "[redacted]",
        "a": "b",
    }


def test_generator_reprs_hide_keys(settings):
    settings.RECRAFT_API_KEY = SECRET
    settings.GEMINI_API_KEY = SECRET
    for cls in (RecraftGenerator, GeminiGenerator):
        generator = cls()
        assert SECRET not in repr(generator)
        assert SECRET not in repr(generator.http)
        generator.close()


def test_it_retries_a_paid_read_timeout_only_once():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(GeneratorError) as info:
        transport(handler).request("POST", "/generate", json_body={"a": 1}, paid=True)
    assert len(calls) == 2
    assert info.value.charged is True
    assert info.value.attempts == 2


def test_it_retries_unpaid_timeouts_and_connection_errors_up_to_the_limit():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) % 2:
            raise httpx.ConnectError("refused", request=request)
        raise httpx.ReadTimeout("timed out", request=request)

    sleeps: list[float] = []
    with pytest.raises(GeneratorError) as info:
        transport(handler, sleeps, max_attempts=4).request("GET", "/poll")
    assert len(calls) == 4
    assert len(sleeps) == 3
    assert info.value.attempts == 4
    assert "gave up after 4 attempts" in str(info.value)


def test_it_sends_exactly_the_json_it_was_given():
    bodies = []

    def handler(request):
        bodies.append((request.headers["content-type"], json.loads(request.content)))
        return httpx.Response(200, json={})

    transport(handler).request("POST", "/x", json_body={"imageSize": "4K", "n": 1})
    assert bodies == [("application/json", {"imageSize": "4K", "n": 1})]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://img.example.test/a.png", True),
        ("https://x.cdn.example.test/a.png", True),
        ("http://img.example.test/a.png", False),
        ("https://cdn.example.test/a.png", False),
        ("https://img.example.test.evil.test/a.png", False),
        ("https://user:pw@img.example.test/a.png", False),
        ("http://127.0.0.1:9999/files/1", True),
        ("http://127.0.0.1:9998/files/1", False),
        ("file:///etc/passwd", False),
    ],
)
def test_download_allow_list(url, allowed):
    t = transport(lambda r: httpx.Response(200), extra_download_hosts=["127.0.0.1:9999"])
    assert t.download_allowed(url) is allowed


def test_downloads_never_carry_the_key():
    seen = []

    def handler(request):
        seen.append(dict(request.headers))
        return httpx.Response(
            200, content=b"\x00\x00\x00\x18ftypisom", headers={"content-type": "video/mp4"}
        )

    download = transport(handler).download("https://img.example.test/v.mp4", kind="video")
    assert download.mime == "video/mp4"
    assert "authorization" not in {k.lower() for k in seen[0]}
