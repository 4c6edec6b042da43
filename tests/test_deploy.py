"""Scale-out configuration: the health check, media on S3 behind the access check, settings
read from the environment alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection, connections
from django.urls import reverse


@pytest.mark.django_db
class TestHealthz:
    def test_it_answers_ok_with_what_it_checked(self, client, django_assert_max_num_queries):
        with django_assert_max_num_queries(1):
            response = client.get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is True and body["database"] == "ok"
        assert body["broker"] in {"ok", "orm"}
        assert response["Cache-Control"].startswith("max-age=0")

    def test_it_needs_no_login_and_sets_no_cookie(self, client):
        response = client.get("/healthz")
        assert not response.cookies

    def test_it_says_503_when_the_database_is_gone(self, client, monkeypatch):
        def broken(*args, **kwargs):
            raise connection.Database.OperationalError("connection refused")

        monkeypatch.setattr(connections["default"], "cursor", broken)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["database"] == "error: OperationalError"

    def test_it_says_503_when_redis_is_unreachable(self, client, settings):
        settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["broker"].startswith("error: ")

    def test_it_rejects_post(self, client):
        assert client.post("/healthz").status_code == 405


def _settings_in_subprocess(env: dict[str, str], expression: str) -> str:
    """Evaluate an expression on studio.settings imported fresh under the given environment."""
    code = f"import studio.settings as s; print({expression})"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


class TestSettingsFromEnvironment:
    def test_database_url_selects_postgresql(self):
        out = _settings_in_subprocess(
            {"DATABASE_URL": "postgresql://app:p%40ss@db.internal:6543/turnaround"},
            "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], "
            "s.DATABASES['default']['USER'], s.DATABASES['default']['PASSWORD'], "
            "s.DATABASES['default']['HOST'], s.DATABASES['default']['PORT']",
        )
        assert out == "django.db.backends.postgresql turnaround app p@ss db.internal 6543"

    def test_redis_url_selects_the_redis_broker(self):
        out = _settings_in_subprocess(
            {"REDIS_URL": "redis://cache.internal:6379/2"},
            "s.Q_CLUSTER.get('redis'), 'orm' in s.Q_CLUSTER, "
            "s.Q_CLUSTER['timeout'] < s.Q_CLUSTER['retry']",
        )
        assert out == "redis://cache.internal:6379/2 False True"

    def test_no_redis_url_keeps_the_orm_broker(self):
        out = _settings_in_subprocess({}, "s.Q_CLUSTER.get('orm'), 'redis' in s.Q_CLUSTER")
        assert out == "default False"

    def test_an_s3_bucket_switches_media_to_s3_with_signed_urls(self):
        out = _settings_in_subprocess(
            {
                "TURNAROUND_S3_BUCKET": "films",
                "AWS_S3_ENDPOINT_URL": "https://minio.internal:9000",
                "AWS_S3_REGION_NAME": "eu-west-1",
            },
            "s.STORAGES['default']['BACKEND'], s.STORAGES['default']['OPTIONS']['bucket_name'], "
            "s.STORAGES['default']['OPTIONS']['querystring_auth'], "
            "s.STORAGES['default']['OPTIONS']['querystring_expire'], "
            "'https://minio.internal:9000' in s.SECURE_CSP['img-src']",
        )
        assert out == "storages.backends.s3.S3Storage films True 300 True"

    def test_production_uses_whitenoise_for_static_files(self):
        out = _settings_in_subprocess(
            {
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": "x" * 60,
                "DJANGO_ALLOWED_HOSTS": "turnaround.example",
            },
            "s.STORAGES['staticfiles']['BACKEND'], "
            "'whitenoise.middleware.WhiteNoiseMiddleware' in s.MIDDLEWARE",
        )
        assert out == "whitenoise.storage.CompressedManifestStaticFilesStorage True"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server on a loopback port, for the whole session: real HTTP."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_server):
    """Media in a bucket on the S3 server, as TURNAROUND_S3_BUCKET would configure it."""
    import uuid

    import boto3

    bucket = f"films-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=s3_server,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    settings.TURNAROUND_S3_BUCKET = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "region_name": "us-east-1",
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "location": "media",
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    client.bucket = bucket
    return client


@pytest.mark.django_db
class TestMediaOnS3:
    def test_a_generation_stores_its_image_in_the_bucket(self, s3, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket)["Contents"]}
        assert f"media/{candidate.image.file.name}" in keys
        assert f"media/{candidate.image.thumbnail.name}" in keys

    def test_the_asset_view_redirects_members_to_a_short_lived_signed_url(
        self, s3, owner_client, character, owner, cast
    ):
        (candidate,) = cast(character, owner, count=1)
        url = reverse("asset", args=["lighthouse", candidate.image_id, "original"])
        response = owner_client.get(url + "?download=1")
        assert response.status_code == 302
        location = response["Location"]
        assert f"/{s3.bucket}/media/projects/" in location
        assert "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
        assert "response-content-disposition=attachment" in location
        assert response["Cache-Control"] == "private, max-age=150"
        # The signed URL works, over HTTP, and hands over the very bytes that were stored.
        import httpx

        from characters.storage import asset_read

        fetched = httpx.get(location, timeout=10)
        assert fetched.status_code == 200 and fetched.content == asset_read(candidate.image)

    def test_strangers_get_no_signed_url(self, s3, client, make_user, character, owner, cast):
        (candidate,) = cast(character, owner, count=1)
        client.force_login(make_user("outsider"))
        url = reverse("asset", args=["lighthouse", candidate.image_id, "original"])
        assert client.get(url).status_code == 404

    def test_stream_mode_sends_the_bytes_through_django(
        self, s3, settings, owner_client, character, owner, cast
    ):
        settings.TURNAROUND_S3_SERVE = "stream"
        (candidate,) = cast(character, owner, count=1)
        url = reverse("asset", args=["lighthouse", candidate.image_id, "thumb"])
        response = owner_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/webp"
        assert b"".join(response.streaming_content)[:4] == b"RIFF"

    def test_guests_get_the_bytes_through_the_check_so_a_revoke_ends_them_at_once(
        self, s3, guest_client, character, owner, cast
    ):
        """A signed URL keeps working for its whole life (300 s), revoked or not, so a guest
        never gets one: the bytes come through the access check on every request."""
        from characters import services
        from characters.storage import asset_read

        (candidate,) = cast(character, owner, count=1)
        client, link = guest_client("view")
        url = reverse("asset", args=["lighthouse", candidate.image_id, "original"])
        response = client.get(url)
        assert response.status_code == 200 and not response.has_header("Location")
        assert b"".join(response.streaming_content) == asset_read(candidate.image)
        assert response["Cache-Control"] == "private, no-cache"
        services.share_link_revoke(link=link, user=owner)
        gone = client.get(url)
        assert gone.status_code == 410 and "This link was revoked" in gone.content.decode()
