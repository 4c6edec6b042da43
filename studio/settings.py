"""Turnaround settings: everything comes from the environment.

The embedded default (no variables set) is SQLite in WAL mode, the django-q2 ORM broker,
media on the filesystem, the offline generator for every stage without a provider key, and
debug off on loopback hosts. `make dev` (DJANGO_DEBUG=1) is for development; production sets
DATABASE_URL, REDIS_URL, the S3 variables, DJANGO_ALLOWED_HOSTS and DJANGO_SECRET_KEY.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import tempfile
import warnings
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.utils.csp import CSP

from characters.stages import STAGES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TURNAROUND_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# Debug is for development only (`make dev`, DJANGO_DEBUG=1): its error pages list every URL
# pattern and setting, so `make run` and every deployment run with it off.
DEBUG = env_bool("DJANGO_DEBUG", False)


def secret_key_file(path: Path) -> str:
    """The key kept in var/: made once (owner-only, 0600) the first time any process needs it,
    never printed. Made in a temporary file and linked into place, so the web server and the
    workers starting together all read the same complete key."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):  # another process made it first: use it
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


SECRET_KEY = env("DJANGO_SECRET_KEY") or secret_key_file(VAR_DIR / "secret_key")

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS") or LOOPBACK_HOSTS
# Served to other machines (a host other than loopback is named): assume HTTPS in front, so
# cookies are secure, HSTS is sent and plain http is redirected. DJANGO_HTTPS=0 serves plain
# http on a trusted network; DJANGO_HTTPS=1 forces it on.
HTTPS = env_bool(
    "DJANGO_HTTPS",
    not DEBUG and any(host not in LOOPBACK_HOSTS for host in ALLOWED_HOSTS),
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "characters",
]

# The middleware that sets security headers comes first, so every answer carries them: error
# pages made by inner middleware (a 400 for an unknown host, a 403 for CSRF) and static files
# included. WhiteNoise follows, ahead of sessions, so static files cost no database work.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "characters.validation.UntrustedQueryMiddleware",
    "characters.middleware.RefusalLogMiddleware",
    "characters.middleware.EndedShareLinkMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "characters.context_processors.turnaround",
            ],
        },
    }
]


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": int(env("DJANGO_CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": int(env("DJANGO_DB_CONNECT_TIMEOUT", "5"))},
        }
    if parsed.scheme == "sqlite":
        return sqlite_database(sqlite_path(parsed.netloc + unquote(parsed.path)))
    raise RuntimeError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported.")


def sqlite_path(url_path: str) -> Path:
    """The file a sqlite URL names, as dj-database-url reads it: sqlite:////abs/path is
    absolute, sqlite:///relative/path is relative to the project folder."""
    name = url_path[1:] if url_path.startswith("/") else url_path
    if not name:
        raise RuntimeError("DATABASE_URL for SQLite needs a file name: sqlite:////abs/path.")
    path = Path(name)
    return path if path.is_absolute() else BASE_DIR / path


def sqlite_database(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # WAL lets the web server read while a worker writes; IMMEDIATE takes the write
            # lock at BEGIN so two writers queue on the busy timeout instead of deadlocking.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
        },
        "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
    }


DATABASE_URL = env("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else sqlite_database(VAR_DIR / "turnaround.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Mail (invites), through Django's MAILERS. Served on loopback with no DJANGO_EMAIL_HOST (the
# `make run` default), the console backend prints each message to the web process's output, so
# invites work with no mail server; served to other machines (HTTPS above) or with a mail host
# set, it is SMTP, configured by the DJANGO_EMAIL_* variables below. DJANGO_EMAIL_BACKEND
# overrides.
EMAIL_BACKEND_PATH = env(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if HTTPS or env("DJANGO_EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH}}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env("DJANGO_EMAIL_HOST", "localhost"),
        "port": int(env("DJANGO_EMAIL_PORT", "25")),
        "username": env("DJANGO_EMAIL_HOST_USER"),
        "password": env("DJANGO_EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("DJANGO_EMAIL_USE_TLS", False),
        "timeout": 20,
    }
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "Turnaround <turnaround@localhost>")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "board-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TZ_NAME", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Security ------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "media-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Static files: WhiteNoise serves them in every mode. On loopback (`make run`) it finds them
# where they live (the finders), so no collectstatic step is needed; served to other machines
# (HTTPS above) it expects `collectstatic` (docs/deploy.md) and serves hashed, compressed names
# cached for a year. DJANGO_STATICFILES_STORAGE overrides the choice.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
if not env("DJANGO_STATIC_ROOT"):
    # The default collectstatic folder need not exist: the finders serve every file.
    warnings.filterwarnings("ignore", message=re.escape(f"No directory at: {STATIC_ROOT}"))
STATICFILES_BACKEND = (
    "whitenoise.storage.CompressedManifestStaticFilesStorage"
    if HTTPS
    else "django.contrib.staticfiles.storage.StaticFilesStorage"
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": env("DJANGO_STATICFILES_STORAGE", STATICFILES_BACKEND)},
}

# Media on S3-compatible storage (AWS, MinIO, R2, ...) when TURNAROUND_S3_BUCKET is set. The
# bucket stays private: pages link to the access-checked asset view, which redirects to a
# signed URL that lives TURNAROUND_S3_URL_EXPIRY seconds.
TURNAROUND_S3_BUCKET = env("TURNAROUND_S3_BUCKET") or env("AWS_STORAGE_BUCKET_NAME")
TURNAROUND_S3_URL_EXPIRY = int(env("TURNAROUND_S3_URL_EXPIRY", "300"))
# "redirect" sends the browser to the signed URL; "stream" proxies the bytes through Django
# (for buckets the browser cannot reach).
TURNAROUND_S3_SERVE = env("TURNAROUND_S3_SERVE", "redirect")
if TURNAROUND_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": TURNAROUND_S3_BUCKET,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env("AWS_S3_REGION_NAME") or None,
            "access_key": env("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY") or None,
            "location": env("TURNAROUND_S3_PREFIX", "media"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": TURNAROUND_S3_URL_EXPIRY,
            "file_overwrite": False,
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
        },
    }
    # Pages load media from the bucket after the redirect, so CSP must allow its origin.
    _endpoint = env("AWS_S3_ENDPOINT_URL")
    _s3_origins = env_list(
        "TURNAROUND_S3_MEDIA_ORIGINS",
        f"{urlparse(_endpoint).scheme}://{urlparse(_endpoint).netloc}"
        if _endpoint
        else f"https://{TURNAROUND_S3_BUCKET}.s3.amazonaws.com,https://*.amazonaws.com",
    )
    if TURNAROUND_S3_SERVE == "redirect":
        SECURE_CSP["img-src"] = [*SECURE_CSP["img-src"], *_s3_origins]
        SECURE_CSP["media-src"] = [*SECURE_CSP["media-src"], *_s3_origins]

X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe over plain http inside the private network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env("DJANGO_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Shared cache and client addresses ------------------------------------------------------
REDIS_URL = env("REDIS_URL")
# Every rate limit counts here (characters/limits.py), so all web processes on all machines
# share one count. TURNAROUND_CACHE_URL: a redis:// URL, "database" (the turnaround_cache
# table, made by migrate) or "memory" (this process only: one web process, tests of it alone).
# Unset: REDIS_URL's Redis when there is one, else the database table.
TURNAROUND_CACHE_URL = env("TURNAROUND_CACHE_URL") or REDIS_URL or "database"
TURNAROUND_CACHE_TABLE = "turnaround_cache"
if TURNAROUND_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    _shared_cache: dict = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": TURNAROUND_CACHE_URL,
    }
elif TURNAROUND_CACHE_URL == "database":
    _shared_cache = {
        "BACKEND": "studio.cache.AtomicDatabaseCache",
        "LOCATION": TURNAROUND_CACHE_TABLE,
    }
elif TURNAROUND_CACHE_URL == "memory":
    _shared_cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
else:
    raise RuntimeError(
        "TURNAROUND_CACHE_URL must be a redis:// URL, 'database' or 'memory', "
        f"not {TURNAROUND_CACHE_URL!r}."
    )
# Environments sharing one Redis (staging next to production) keep their counts apart.
_shared_cache["KEY_PREFIX"] = env("TURNAROUND_CACHE_KEY_PREFIX", "turnaround")
CACHES = {
    "default": _shared_cache,
    # django-q2's cluster statistics, written every half second: kept in process memory
    # unless the shared cache is Redis (where `qmonitor` can read them).
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

# Behind a reverse proxy or load balancer every request comes from the proxy's address. List
# the proxies (addresses or CIDR ranges) and the header they write; the header is believed only
# from them, and the right-most address in it that is not one of them is the client.
TURNAROUND_TRUSTED_PROXIES = env_list("TURNAROUND_TRUSTED_PROXIES")
TURNAROUND_CLIENT_IP_HEADER = env("TURNAROUND_CLIENT_IP_HEADER", "X-Forwarded-For")
for _proxy in TURNAROUND_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise RuntimeError(
            f"TURNAROUND_TRUSTED_PROXIES: {_proxy!r} is not an address or a CIDR range "
            "(e.g. 10.0.0.0/8)."
        ) from None

# --- Background work -----------------------------------------------------------------------
Q_CLUSTER: dict = {
    "name": "turnaround",
    "workers": int(env("TURNAROUND_WORKERS", "4")),
    # The ORM broker hands the pusher this many tasks per poll: with the default of 1, four
    # sheet options queued together start a poll interval apart from each other.
    "bulk": int(env("TURNAROUND_WORKERS", "4")),
    # timeout < retry, or django-q2 hands a slow task to a second worker.
    "timeout": int(env("TURNAROUND_TASK_TIMEOUT", "900")),
    "retry": int(env("TURNAROUND_TASK_RETRY", "960")),
    "max_attempts": 3,
    "save_limit": 500,
    "ack_failures": True,
    "catch_up": False,
    "poll": float(env("TURNAROUND_QUEUE_POLL", "0.1")),
    # A worker whose resident memory ever reached this is replaced by a fresh one after its
    # task (a leak, or a picture far larger than any sheet, never stays); KB, as django-q2 reads it.
    "max_rss": int(env("TURNAROUND_WORKER_MAX_RSS_MB", "512")) * 1024,
    "label": "Background tasks",
    "cache": "default" if _shared_cache["BACKEND"].endswith("RedisCache") else "local",
}
# Separate queues on one broker (staging next to production, parallel test runs): the queue
# name changes, the signing prefix ("name") does not.
if env("TURNAROUND_QUEUE_NAME"):
    Q_CLUSTER["cluster_name"] = env("TURNAROUND_QUEUE_NAME")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker, rung awake by each enqueue on this machine instead of found at the next
    # poll (studio/doorbell.py); polling still finds everything else.
    Q_CLUSTER["broker_class"] = "studio.doorbell.DoorbellORM"
# Lanes: each is its own queue with its own workers, so one kind of work never starves another.
# Casting, the upscale and inspection answer in seconds; 4K sheets and panel edits hold a worker
# for their whole request (~30-60 s), so how many run at once is this lane's worker count, not
# how many happen to be queued; shots only submit and check (a worker never waits on Seedance),
# so a small lane serves many shots in flight. `manage.py worker` runs every lane (or
# `--lane NAME` one of them); a plain `qcluster` serves only the interactive lane.
# docs/deploy.md says how to size them.
TURNAROUND_LANES: dict[str, dict] = {
    "interactive": {
        "stages": ["casting", "upscale", "inspect"],
        "workers": int(env("TURNAROUND_WORKERS", "4")),
    },
    "images": {
        "stages": ["sheet", "edit"],
        "workers": int(env("TURNAROUND_IMAGE_WORKERS", "4")),
    },
    # Shots, and the follow-up work nobody waits for at their screen: the identity scores and
    # panel labels of a stored sheet, and the video provider's asset library (uploads, checks).
    # At a lower CPU priority, so a sheet card or a candidate never waits behind any of it.
    "video": {
        "stages": ["shot", "label"],
        "workers": int(env("TURNAROUND_VIDEO_WORKERS", "2")),
        # A task here submits or checks; the longest is downloading a finished video. A short
        # timeout is also how soon a check lost with a killed worker is handed out again.
        "timeout": int(env("TURNAROUND_VIDEO_TASK_TIMEOUT", "120")),
        "retry": int(env("TURNAROUND_VIDEO_TASK_RETRY", "180")),
        # Checks can wait a little: the broker is polled less, and on a machine shared with
        # the other lanes their workers run at a lower CPU priority (nice).
        "poll": float(env("TURNAROUND_VIDEO_QUEUE_POLL", "0.5")),
        "nice": int(env("TURNAROUND_VIDEO_NICE", "10")),
    },
}
# Waiting at a task-based provider: the first check comes after the provider's own hint
# (TURNAROUND_SEEDANCE_POLL_INTERVAL for Seedance), each later one 1.5x further off, at most
# TURNAROUND_CHECK_MAX_INTERVAL apart; past TURNAROUND_PROVIDER_WAIT_DEADLINE the task is
# cancelled and the generation fails with a reason.
TURNAROUND_SEEDANCE_POLL_INTERVAL = float(env("TURNAROUND_SEEDANCE_POLL_INTERVAL", "5"))
TURNAROUND_CHECK_BACKOFF = float(env("TURNAROUND_CHECK_BACKOFF", "1.5"))
TURNAROUND_CHECK_MAX_INTERVAL = float(env("TURNAROUND_CHECK_MAX_INTERVAL", "15"))
TURNAROUND_PROVIDER_WAIT_DEADLINE = int(env("TURNAROUND_PROVIDER_WAIT_DEADLINE", "1800"))
# How often `manage.py worker` hands due checks to the workers (seconds).
TURNAROUND_CHECK_TICK = float(env("TURNAROUND_CHECK_TICK", "1"))

# The app's own delivery guarantee (characters.tasks.requeue_stuck_generations, every minute):
# a generation whose worker died is enqueued again, at most TURNAROUND_MAX_ATTEMPTS claims in
# all; one queued for TURNAROUND_REQUEUE_AFTER seconds with no taker is enqueued again.
TURNAROUND_MAX_ATTEMPTS = int(env("TURNAROUND_MAX_ATTEMPTS", "3"))
TURNAROUND_REQUEUE_AFTER = int(env("TURNAROUND_REQUEUE_AFTER", "180"))
# Tests run tasks inline unless they start a real worker (the browser tests do).
if env_bool("TURNAROUND_SYNC_TASKS", False):
    Q_CLUSTER["sync"] = True

# --- Generators ----------------------------------------------------------------------------
RECRAFT_API_KEY = env("RECRAFT_API_KEY")
RECRAFT_API_BASE = env("RECRAFT_API_BASE", "https://external.api.recraft.ai/v1")
RECRAFT_MODEL = env("RECRAFT_MODEL", "recraftv4_1")
GEMINI_API_KEY = env("GEMINI_API_KEY")
GEMINI_API_BASE = env("GEMINI_API_BASE", "https://generativelanguage.googleapis.com")
# Current ids (2026-12): the -preview ids of both were shut down; `providers --check` checks them.
GEMINI_IMAGE_MODEL = env("GEMINI_IMAGE_MODEL", "gemini-3-pro-image")
GEMINI_INSPECT_MODEL = env("GEMINI_INSPECT_MODEL", "gemini-3.1-pro-preview")
ARK_API_KEY = env("ARK_API_KEY")
ARK_API_BASE = env("ARK_API_BASE", "https://ark.ap-southeast.bytepluses.com/api/v3")
SEEDANCE_MODEL = env("SEEDANCE_MODEL", "dreamina-seedance-2-0-260128")
# Seedance's asset library (virtual portraits): signed OpenAPI calls with an access key pair,
# not the Bearer key. Photoreal faces reach Seedance only as asset:// references.
ARK_ACCESS_KEY = env("ARK_ACCESS_KEY")
ARK_SECRET_KEY = env("ARK_SECRET_KEY")
ARK_ASSET_API_BASE = env("ARK_ASSET_API_BASE", "https://ark.ap-southeast-1.byteplusapi.com")
ARK_ASSET_REGION = env("ARK_ASSET_REGION", "ap-southeast-1")
ARK_PROJECT_NAME = env("ARK_PROJECT_NAME", "default")
# The address the provider downloads reference images from (the asset library takes URLs
# only): this site's public base URL, e.g. https://turnaround.example.com.
TURNAROUND_PUBLIC_URL = env("TURNAROUND_PUBLIC_URL").rstrip("/")
TURNAROUND_REFERENCE_CHECK_INTERVAL = float(env("TURNAROUND_REFERENCE_CHECK_INTERVAL", "5"))

# Stage → provider. A stage whose provider has no key falls back to "offline".
TURNAROUND_ROUTES = {
    # TURNAROUND_ROUTE_CASTING, _UPSCALE, _SHEET, _EDIT, _INSPECT, _SHOT; defaults in the table.
    stage: env(f"TURNAROUND_ROUTE_{stage.upper()}", info.default_route)
    for stage, info in STAGES.items()
}
# Hosts that provider downloads may come from; TURNAROUND_DOWNLOAD_HOSTS (host:port, comma
# separated) extends it and is the only way plain http (a loopback fake) is allowed.
TURNAROUND_DOWNLOAD_HOSTS = env_list("TURNAROUND_DOWNLOAD_HOSTS")

TURNAROUND_SHEET_ASPECT_RATIO = env("TURNAROUND_SHEET_ASPECT_RATIO", "16:9")
TURNAROUND_SHEET_IMAGE_SIZE = env("TURNAROUND_SHEET_IMAGE_SIZE", "4K")
TURNAROUND_SHEET_PRESET = env("TURNAROUND_SHEET_PRESET", "six")
TURNAROUND_UPSCALE_TARGET = int(env("TURNAROUND_UPSCALE_TARGET", "4096"))
TURNAROUND_MAX_IMAGE_PIXELS = int(env("TURNAROUND_MAX_IMAGE_PIXELS", str(40_000_000)))
TURNAROUND_MAX_DOWNLOAD_BYTES = int(env("TURNAROUND_MAX_DOWNLOAD_BYTES", str(64 * 1024 * 1024)))
# One provider call: how long one read may wait for bytes, and how long the whole call (its
# retries included) may take before it fails with a reason (characters/generators/http.py).
TURNAROUND_PROVIDER_READ_TIMEOUT = float(env("TURNAROUND_PROVIDER_READ_TIMEOUT", "90"))
TURNAROUND_PROVIDER_DEADLINE = float(env("TURNAROUND_PROVIDER_DEADLINE", "300"))

# Price table, USD (documented in the README). Responses carry usage; this turns it into money.
TURNAROUND_PRICES = {
    "recraft_usd_per_unit": Decimal("0.001"),  # 1 USD = 1,000 API units
    "recraft_generation_estimate": Decimal("0.04"),
    "recraft_crisp_upscale": Decimal("0.004"),
    # Image output $120 per million tokens; text output and thinking tokens $12 per million.
    "gemini_usd_per_image_output_token": Decimal("0.00012"),
    "gemini_usd_per_text_output_token": Decimal("0.000012"),
    "gemini_usd_per_input_token": Decimal("0.000002"),
    "gemini_image_4k_estimate": Decimal("0.24"),
    "gemini_image_2k_estimate": Decimal("0.134"),
    "gemini_inspect_estimate": Decimal("0.01"),
    "seedance_usd_per_1k_tokens": Decimal("0.007"),
    "seedance_shot_estimate": Decimal("0.80"),
    "offline": Decimal("0"),
}
# A provider's reported cost above this (or negative, or not a finite number) is not stored:
# the generation keeps its estimate and a warning is logged. The dearest call today, a 15 s
# 1080p Seedance shot, is about $5.
TURNAROUND_MAX_GENERATION_COST_USD = Decimal(env("TURNAROUND_MAX_GENERATION_COST_USD", "50"))

# Link tokens never reach a log: every handler redacts them (studio/logs.py), including the
# development server's request lines ("django.server", configured here as Django would).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "studio.logs.RedactTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # Django's own console handler (from its default config) would print "Not Found:
        # /s/<token>" unredacted: its records go to the root's console instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
