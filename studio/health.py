"""/healthz: a cheap liveness and readiness check for load balancers and orchestrators.

It pings the database and, when the Redis broker is configured, Redis, each with a short
timeout, and answers 200 with what it checked or 503 with what failed. No login, no session,
no template: a probe every few seconds must cost next to nothing.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

BROKER_TIMEOUT = 2.0


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if not settings.REDIS_URL:
        return "orm"  # the ORM broker lives in the database checked above
    import redis  # here: redis is installed only with the scale extra

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure is a 503 with its class, never a 500 page
            checks[name] = f"error: {type(exc).__name__}"
            healthy = False
    checks["ms"] = f"{(time.perf_counter() - started) * 1000:.1f}"
    return JsonResponse({"ok": healthy, **checks}, status=200 if healthy else 503)
