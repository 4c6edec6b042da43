"""Seedance's asset library client: the signer against the official SDK and a published vector,
and the signed calls against the fake's asset API over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from PIL import Image

from characters.generators import seedance_assets
from characters.generators.seedance_assets import (
    AssetLibraryError,
    SeedanceAssetLibrary,
    prepare_image,
    sign,
)
from tests.fakes.server import ARK_ACCESS_KEY, ARK_SECRET_KEY, portrait_png

WHEN = dt.datetime(2026, 9, 16, 12, 34, 56, tzinfo=dt.UTC)


def test_the_signer_reproduces_the_published_vector():
    headers = sign(
        method="POST",
        host="ark.ap-southeast-1.byteplusapi.com",
        path="/",
        query={"Action": "GetAsset", "Version": "2024-01-01"},
        body=b'{"Id":"asset-1","ProjectName":"project-x"}',
        content_type="application/json",
        access_key="AKIDEXAMPLE",
        secret_key="secret-key-value",
        region="ap-southeast-1",
        now=WHEN,
    )
    assert headers["Authorization"] == (
        "HMAC-SHA256 Credential=AKIDEXAMPLE/20260916/ap-southeast-1/ark/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=306556bb6bbd5c0637327f62167dbe6d5fd16cce65a380c85a7e256d9f330ebd"
    )
    assert headers["X-Date"] == "20260916T123456Z"


def test_the_signer_matches_the_official_sdk_signer(monkeypatch):
    from byteplussdkcore import signv4

    class Frozen(dt.datetime):
        @classmethod
        def utcnow(cls):
            return WHEN.replace(tzinfo=None)

    # The SDK reads the clock as datetime.datetime.utcnow(): give only its module a frozen one.
    monkeypatch.setattr(signv4, "datetime", SimpleNamespace(datetime=Frozen))
    body = '{"GroupId":"group-1","URL":"https://example.com/a b.jpg","ProjectName":"default"}'
    sdk_headers = {"Content-Type": "application/json", "Host": "ark.cn-beijing.volcengineapi.com"}
    signv4.SignerV4.sign(
        "/",
        "POST",
        sdk_headers,
        body,
        {},
        {"Action": "CreateAsset", "Version": "2024-01-01"},
        "AKLTexample",
        "c2VjcmV0",
        "cn-beijing",
        "ark",
    )
    ours = sign(
        method="POST",
        host="ark.cn-beijing.volcengineapi.com",
        path="/",
        query={"Action": "CreateAsset", "Version": "2024-01-01"},
        body=body.encode(),
        content_type="application/json",
        access_key="AKLTexample",
        secret_key="c2VjcmV0",
        region="cn-beijing",
        now=WHEN,
    )
    assert ours["Authorization"] == sdk_headers["Authorization"]
    assert ours["X-Content-Sha256"] == sdk_headers["X-Content-Sha256"]


@pytest.mark.parametrize(
    ("size", "expect_within"),
    [((200, 380), True), ((8000, 4000), True), ((100, 900), True), ((1000, 1000), True)],
)
def test_prepared_images_sit_inside_the_librarys_limits(size, expect_within):
    data, width, height = prepare_image(portrait_png("p", 1, *size))
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (width, height)
    assert 300 < width < 6000 and 300 < height < 6000
    assert 0.4 < width / height < 2.5


@pytest.fixture
def library(fake, fast, settings):
    settings.ARK_ACCESS_KEY = ARK_ACCESS_KEY
    settings.ARK_SECRET_KEY = ARK_SECRET_KEY
    settings.ARK_ASSET_API_BASE = f"{fake.base_url}/ark-open"
    lib = SeedanceAssetLibrary(**fast)
    yield lib
    lib.close()


def test_a_group_and_an_asset_go_pending_then_active(fake, library):
    picture = fake.store(prepare_image(portrait_png("face", 2, 900, 1200))[0], "image/jpeg")
    group = library.create_group(name="lighthouse/mara", description="Mara")
    asset = library.create_asset(group_id=group, url=picture, name="mara-face")
    assert asset.startswith("asset-") and group.startswith("group-")
    states = [library.get_asset(asset).status for _ in range(3)]
    assert states == ["pending", "pending", "active"]
    call = fake.routed("arkopen.call")[1]
    assert call.path == "/ark-open/" and call.json() == {
        "GroupId": group,
        "URL": picture,
        "AssetType": "Image",
        "Name": "mara-face",
        "ProjectName": "default",
    }
    assert call.headers["authorization"].startswith(f"HMAC-SHA256 Credential={ARK_ACCESS_KEY}/")
    assert ARK_SECRET_KEY not in str(call.headers)


def test_an_image_outside_the_limits_is_refused_with_the_providers_words(fake, library):
    tiny = fake.store(portrait_png("face", 2, 200, 200), "image/png")
    group = library.create_group(name="g")
    with pytest.raises(AssetLibraryError) as info:
        library.create_asset(group_id=group, url=tiny, name="tiny")
    assert info.value.refused and info.value.permanent
    assert "Width must be between 300px and 6000px" in str(info.value)


def test_a_failed_asset_is_refused_with_the_providers_words(fake, library):
    picture = fake.store(prepare_image(portrait_png("face", 2, 900, 1200))[0], "image/jpeg")
    group = library.create_group(name="g")
    fake.add_fault("arkopen.call", "asset_failed")
    asset = library.create_asset(group_id=group, url=picture, name="x")
    fake.asset_gets_to_active = 0
    state = library.get_asset(asset)
    assert state.status == "refused" and "sensitive content" in state.error


def test_a_wrong_secret_is_refused_and_never_shown(fake, fast, settings):
    settings.ARK_ASSET_API_BASE = f"{fake.base_url}/ark-open"
    lib = SeedanceAssetLibrary(access_key=ARK_ACCESS_KEY, secret_key="not-the-secret", **fast)
    with pytest.raises(AssetLibraryError) as info:
        lib.create_group(name="g")
    lib.close()
    assert info.value.permanent and not info.value.refused
    assert "SignatureDoesNotMatch" in str(info.value) or "signature" in str(info.value)
    assert "not-the-secret" not in str(info.value) and "not-the-secret" not in repr(lib)


def test_without_an_access_key_pair_it_says_what_to_set(settings):
    settings.ARK_ACCESS_KEY = ""
    lib = seedance_assets.SeedanceAssetLibrary(secret_key="")
    with pytest.raises(AssetLibraryError, match="ARK_ACCESS_KEY and ARK_SECRET_KEY"):
        lib.create_group(name="g")
    lib.close()
