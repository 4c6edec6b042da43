"""The shared transport every provider client uses: timeouts, bounded retries, safe downloads.

Long because it is one policy (deadlines, retries, downloads, redaction) that every client shares.

One ProviderTransport per generator instance wraps one httpx.Client. It adds what httpx does not:
an overall deadline per call (httpx timeouts are per socket operation, so a body that drips a
byte at a time would never trip them), retries with jittered backoff that honour Retry-After and
Gemini's RetryInfo, errors that say whether retrying can help, and downloads that only fetch
from the provider's own hosts, with a size cap and an image check before anything is kept.
API keys live only in the client's default headers: never in a message, a log line or a repr.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import httpx
from django.conf import settings

from ..imaging import ImageRejected, inspect_image
from .base import GeneratorError

logger = logging.getLogger("characters.generators")

CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 90.0
DEFAULT_DEADLINE = 300.0
DEFAULT_MAX_ATTEMPTS = 4
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
# A provider asking us to wait longer than this gets an error instead: the broker can retry
# the whole task later, which is better than holding a worker asleep.
MAX_SINGLE_WAIT = 60.0
MAX_REDIRECTS = 5
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
EXPIRED_LINK_STATUSES = frozenset({403, 404, 410})
SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "proxy-authorization"})
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4"})
MESSAGE_LIMIT = 500

Sleep = Callable[[float], None]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process, shared by every client: building one loads the
    CA bundle (~0.2 s of CPU), which every generation and every provider check would pay."""
    return ssl.create_default_context(cafile=certifi.where())


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of headers safe to log: credentials replaced."""
    return {k: ("[redacted]" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_retry_delay(payload: Any) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail ({"retryDelay": "23s"}), if the body has one."""
    try:
        details = payload["error"]["details"]
    except (KeyError, TypeError):
        return None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith(
            "google.rpc.RetryInfo"
        ):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := re.fullmatch(r"(\d+(?:\.\d+)?)s", delay.strip())):
            return float(match.group(1))
        if isinstance(delay, dict):  # the proto form {"seconds": 23, "nanos": 0}
            return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    return None


def mime_of(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def host_matches(host: str, pattern: str) -> bool:
    """'img.recraft.ai' matches itself; '*.recraft.ai' matches any subdomain, not the apex."""
    host, pattern = host.lower().rstrip("."), pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


class ProviderHTTPError(GeneratorError):
    """A provider answered with an error status; provider_code is its own error code, if any."""

    def __init__(self, message: str, *, provider_code: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.provider_code = provider_code


@dataclass
class ProviderResponse:
    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    attempts: int = 1
    provider: str = ""

    @property
    def mime(self) -> str:
        return mime_of(self.headers)

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GeneratorError(
                f"{self.provider} answered with malformed JSON; nothing was kept.",
                permanent=False,
                attempts=self.attempts,
            ) from exc


@dataclass
class Download:
    data: bytes
    mime: str
    url: str
    attempts: int = 1
    width: int = 0
    height: int = 0


class _DeadlineExceeded(Exception):
    pass


class _TooLarge(Exception):
    pass


@dataclass
class ProviderTransport:
    """One provider's HTTP client: retries, deadlines and guarded downloads.

    provider is the display name used in messages ("Recraft"). auth_headers carry the key and
    are sent only to base_url's API, never to download hosts. download_hosts are host patterns
    allowed over https; extra_download_hosts are "host:port" entries (settings) that are also
    allowed over plain http: the only way a loopback fake gets through.
    """

    provider: str
    base_url: str
    auth_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    download_hosts: Iterable[str] = ()
    extra_download_hosts: Iterable[str] = ()
    read_timeout: float = DEFAULT_READ_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    max_single_wait: float = MAX_SINGLE_WAIT
    max_download_bytes: int = 64 * 1024 * 1024
    sleep: Sleep = time.sleep
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.download_hosts = tuple(self.download_hosts)
        self.extra_download_hosts = tuple(h.strip().lower() for h in self.extra_download_hosts)
        self._secrets = tuple(
            v.split(" ", 1)[-1]
            for k, v in self.auth_headers.items()
            if k.lower() in SECRET_HEADERS and v
        )
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=self.read_timeout)
        self._api = httpx.Client(
            timeout=timeout,
            verify=tls_context(),
            headers=dict(self.auth_headers),
            transport=self.transport,
            follow_redirects=False,
        )
        # Downloads go to other hosts: a separate client that has never seen the key.
        self._files = httpx.Client(
            timeout=timeout, verify=tls_context(), transport=self.transport, follow_redirects=False
        )

    def __repr__(self) -> str:
        return f"ProviderTransport(provider={self.provider!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._api.close()
        self._files.close()

    # --- API calls ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        paid: bool = False,
        deadline: float | None = None,
        max_bytes: int | None = None,
        ok_statuses: Iterable[int] = (),
        max_attempts: int | None = None,
    ) -> ProviderResponse:
        """Send one API call with retries. Error statuses raise ProviderHTTPError.

        paid marks a request that may charge the account (a generation): a read timeout on it
        is retried at most once, because the provider may already be working on (and billing
        for) the first one. ok_statuses are error statuses the caller wants back instead.
        max_attempts=1 makes a call that never sleeps (a status check the runner repeats later).
        """
        if content is None and json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers = {"content-type": "application/json", **(headers or {})}
        request = self._api.build_request(
            method, self.url(path), content=content, files=files, data=data, headers=headers
        )
        limit = max_bytes or self.max_download_bytes
        response = self._send(
            self._api,
            request,
            paid=paid,
            deadline=deadline,
            max_bytes=limit,
            what="request",
            max_attempts=max_attempts,
        )
        if response.status_code >= 400 and response.status_code not in set(ok_statuses):
            raise self._http_error(response)
        return response

    def _send(
        self,
        client: httpx.Client,
        request: httpx.Request,
        *,
        paid: bool,
        deadline: float | None,
        max_bytes: int,
        what: str,
        max_attempts: int | None = None,
    ) -> ProviderResponse:
        started = time.monotonic()
        limit = max_attempts or self.max_attempts
        ends_at = started + (deadline or self.deadline)
        timeouts_retried = 0
        attempt = 0
        path = urlsplit(str(request.url)).path
        while True:
            attempt += 1
            try:
                response = self._once(client, request, ends_at=ends_at, max_bytes=max_bytes)
            except _DeadlineExceeded as exc:
                raise GeneratorError(
                    f"{self.provider} did not finish answering within "
                    f"{round(ends_at - started)} s; the {what} was abandoned.",
                    permanent=False,
                    attempts=attempt,
                    charged=paid,
                ) from exc
            except _TooLarge as exc:
                raise GeneratorError(
                    f"{self.provider} sent more than {max_bytes:,} bytes; the {what} was "
                    "abandoned.",
                    permanent=True,
                    attempts=attempt,
                    charged=paid,
                ) from exc
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the provider: always safe to try again.
                reason = f"could not connect to {self.provider} ({type(exc).__name__})"
                self._pause(attempt, None, ends_at, reason, paid=False, limit=limit)
                continue
            except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                reason = f"{self.provider} stopped answering ({type(exc).__name__})"
                if paid:
                    if timeouts_retried >= 1:
                        raise GeneratorError(
                            f"{reason} twice; the provider may have charged for the attempts.",
                            permanent=False,
                            attempts=attempt,
                            charged=True,
                        ) from exc
                    timeouts_retried += 1
                self._pause(attempt, None, ends_at, reason, paid=paid, limit=limit)
                continue
            except (httpx.WriteTimeout, httpx.WriteError) as exc:
                reason = f"could not send the {what} to {self.provider} ({type(exc).__name__})"
                self._pause(attempt, None, ends_at, reason, paid=False, limit=limit)
                continue
            except httpx.HTTPError as exc:
                raise GeneratorError(
                    f"The {what} to {self.provider} failed ({type(exc).__name__}).",
                    permanent=False,
                    attempts=attempt,
                ) from exc
            response.attempts = attempt
            if response.status_code in RETRYABLE_STATUSES:
                hint = self._wait_hint(response)
                reason = f"{self.provider} answered HTTP {response.status_code} on {path}"
                try:
                    self._pause(attempt, hint, ends_at, reason, paid=False, limit=limit)
                except GeneratorError as exc:
                    raise self._http_error(response, note=exc.message) from None
                continue
            return response

    def _once(
        self, client: httpx.Client, request: httpx.Request, *, ends_at: float, max_bytes: int
    ) -> ProviderResponse:
        response = client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _TooLarge
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise _TooLarge
                chunks.append(chunk)
                if time.monotonic() > ends_at:
                    raise _DeadlineExceeded
            if time.monotonic() > ends_at:
                raise _DeadlineExceeded
            return ProviderResponse(
                status_code=response.status_code,
                headers=response.headers,
                content=b"".join(chunks),
                url=str(response.url),
                provider=self.provider,
            )
        finally:
            response.close()

    def _wait_hint(self, response: ProviderResponse) -> float | None:
        hint = parse_retry_after(response.headers.get("retry-after"))
        if hint is None and response.mime.endswith("json"):
            try:
                hint = parse_retry_delay(json.loads(response.content))
            except ValueError:
                hint = None
        return hint

    def backoff(self, attempt: int) -> float:
        """Full jitter: anywhere between 0 and the exponential ceiling."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def _pause(
        self,
        attempt: int,
        hint: float | None,
        ends_at: float,
        reason: str,
        *,
        paid: bool,
        limit: int | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise when there should be none."""
        limit = limit or self.max_attempts
        if attempt >= limit:
            raise GeneratorError(
                f"{reason}; gave up after {attempt} attempts.",
                permanent=False,
                attempts=attempt,
                charged=paid,
            )
        if hint is not None and hint > self.max_single_wait:
            raise GeneratorError(
                f"{reason}; it asked to wait {round(hint)} s, longer than Turnaround waits in "
                "one go. Try again later.",
                permanent=False,
                attempts=attempt,
                charged=paid,
            )
        wait = hint if hint is not None else self.backoff(attempt)
        if time.monotonic() + wait > ends_at:
            raise GeneratorError(
                f"{reason}; no time left to try again.",
                permanent=False,
                attempts=attempt,
                charged=paid,
            )
        logger.warning(
            "%s: %s; attempt %d of %d, waiting %.2f s",
            self.provider,
            reason,
            attempt,
            limit,
            wait,
        )
        self.sleep(wait)

    def scrub(self, text: str) -> str:
        """Text with any of our secrets removed (providers sometimes echo what they got)."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def error_details(self, response: ProviderResponse) -> tuple[str, str]:
        """(provider code, provider message) from an error body, JSON only if it says so."""
        text = response.content.decode("utf-8", "replace").strip()
        code, message = "", text
        if response.mime.endswith("json"):
            try:
                payload = json.loads(response.content)
            except ValueError:
                payload = None
            if isinstance(payload, dict):
                # BytePlus/Volcengine OpenAPI: {"ResponseMetadata": {..., "Error": {Code, Message}}}
                meta = payload.get("ResponseMetadata")
                if isinstance(meta, dict) and isinstance(meta.get("Error"), dict):
                    payload = {k.lower(): v for k, v in meta["Error"].items()}
                err = payload.get("error", payload)
                if isinstance(err, dict):
                    # Gemini's symbolic code is "status"; Ark and Recraft put theirs in "code".
                    code = str(err.get("status") or err.get("code") or "")
                    message = str(err.get("message") or err.get("detail") or text)
                elif isinstance(err, str):
                    message = err
        message = self.scrub(" ".join(message.split()))[:MESSAGE_LIMIT]
        return self.scrub(code), message

    def _http_error(self, response: ProviderResponse, *, note: str = "") -> ProviderHTTPError:
        code, message = self.error_details(response)
        status = response.status_code
        if status in (401, 403):
            what = f"{self.provider} refused the API key or access (HTTP {status})"
        elif status == 402:
            what = f"{self.provider} says the account is out of credits (HTTP 402)"
        elif status == 429:
            what = f"{self.provider} is rate limiting Turnaround (HTTP 429)"
        elif status >= 500:
            what = f"{self.provider} had a server error (HTTP {status})"
        else:
            what = f"{self.provider} rejected the request (HTTP {status})"
        text = f"{what}: {message}" if message else f"{what}."
        if note:
            text = f"{text} ({note})"
        return ProviderHTTPError(
            text,
            provider_code=code,
            permanent=status not in RETRYABLE_STATUSES,
            status_code=status,
            attempts=response.attempts,
        )

    # --- downloads ------------------------------------------------------------------------

    def download_allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password:
            return False
        try:
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        except ValueError:
            return False
        if f"{host}:{port}" in self.extra_download_hosts and parts.scheme in ("http", "https"):
            return True
        return parts.scheme == "https" and any(
            host_matches(host, pattern) for pattern in self.download_hosts
        )

    def download(self, url: str, *, kind: str = "image", max_bytes: int | None = None) -> Download:
        """Fetch a provider's result URL: allowed hosts only, capped, type-checked, verified.

        kind is "image" (PNG/JPEG/WebP, checked by inspect_image) or "video" (MP4).
        """
        limit = max_bytes or self.max_download_bytes
        allowed_types = IMAGE_TYPES if kind == "image" else VIDEO_TYPES
        attempts = 0
        for _hop in range(MAX_REDIRECTS + 1):
            if not self.download_allowed(url):
                raise GeneratorError(
                    f"{self.provider} pointed to a download on a host Turnaround does not "
                    f"fetch from ({urlsplit(url).scheme}://{urlsplit(url).hostname}).",
                    permanent=True,
                    attempts=max(attempts, 1),
                )
            request = self._files.build_request("GET", url)
            response = self._send(
                self._files, request, paid=False, deadline=None, max_bytes=limit, what="download"
            )
            attempts += response.attempts
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    break
                url = urljoin(url, location)
                continue
            if response.status_code in EXPIRED_LINK_STATUSES:
                raise GeneratorError(
                    f"{self.provider}'s download link has expired or was refused (HTTP "
                    f"{response.status_code}); the result has to be generated again.",
                    permanent=True,
                    status_code=response.status_code,
                    attempts=attempts,
                )
            if response.status_code >= 400:
                raise GeneratorError(
                    f"{self.provider}'s download failed (HTTP {response.status_code}).",
                    permanent=True,
                    status_code=response.status_code,
                    attempts=attempts,
                )
            mime = response.mime
            if mime not in allowed_types:
                shown = "a web page" if "html" in mime else (mime or "an untyped file")
                raise GeneratorError(
                    f"{self.provider} sent {shown} instead of the expected {kind}; it was not "
                    "kept.",
                    permanent=True,
                    attempts=attempts,
                )
            result = Download(response.content, mime, url, attempts)
            if kind == "image":
                info = checked_image(
                    response.content, f"{self.provider}'s image", attempts=attempts
                )
                result.mime, result.width, result.height = info
            return result
        raise GeneratorError(
            f"{self.provider}'s download redirected too many times.", permanent=True
        )


def checked_image(data: bytes, what: str, *, attempts: int = 1) -> tuple[str, int, int]:
    """(mime, width, height) of bytes that pass the one guarded decode path.

    what names the image in the error ("Gemini's image"); a refusal is permanent.
    """
    try:
        info = inspect_image(data)
    except ImageRejected as exc:
        raise GeneratorError(
            f"{what} was refused: {exc}", permanent=True, attempts=attempts
        ) from exc
    return info.mime, info.width, info.height


def transport_from_settings(
    *,
    provider: str,
    base_url: str,
    auth_headers: Mapping[str, str],
    download_hosts: Iterable[str],
    **overrides: Any,
) -> ProviderTransport:
    """A transport configured from Django settings; overrides (tests, tools) win when given."""
    options: dict[str, Any] = {
        "extra_download_hosts": getattr(settings, "TURNAROUND_DOWNLOAD_HOSTS", []),
        "max_download_bytes": getattr(settings, "TURNAROUND_MAX_DOWNLOAD_BYTES", 64 << 20),
        "read_timeout": float(
            getattr(settings, "TURNAROUND_PROVIDER_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
        ),
        "deadline": float(getattr(settings, "TURNAROUND_PROVIDER_DEADLINE", DEFAULT_DEADLINE)),
    }
    options.update({k: v for k, v in overrides.items() if v is not None})
    return ProviderTransport(
        provider=provider,
        base_url=base_url,
        auth_headers=auth_headers,
        download_hosts=download_hosts,
        **options,
    )
