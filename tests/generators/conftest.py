"""Fixtures for the provider clients: one fake provider server per session, reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.server import (
    ARK_ACCESS_KEY,
    ARK_KEY,
    ARK_REGION,
    ARK_SECRET_KEY,
    GEMINI_KEY,
    RECRAFT_KEY,
    FakeProvider,
)


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    """The fake server on a loopback port; .base_url, .add_fault(), .requests."""
    fake = FakeProvider()
    fake.start()
    yield fake
    fake.stop()


@dataclass
class Sleeps:
    """An injected sleep that records instead of waiting."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fake(fake_provider: FakeProvider, settings: Any) -> FakeProvider:
    """The fake, emptied, with settings pointing every provider at it."""
    fake_provider.reset()
    base = fake_provider.base_url
    settings.RECRAFT_API_KEY = RECRAFT_KEY
    settings.RECRAFT_API_BASE = f"{base}/recraft/v1"
    settings.RECRAFT_MODEL = "recraftv3"
    settings.GEMINI_API_KEY = GEMINI_KEY
    settings.GEMINI_API_BASE = f"{base}/gemini"
    settings.GEMINI_IMAGE_MODEL = "gemini-3-pro-image"
    settings.GEMINI_INSPECT_MODEL = "gemini-3.1-pro-preview"
    settings.ARK_API_KEY = ARK_KEY
    settings.ARK_API_BASE = f"{base}/ark/api/v3"
    settings.SEEDANCE_MODEL = "dreamina-seedance-2-0-260128"
    settings.ARK_ACCESS_KEY = ARK_ACCESS_KEY
    settings.ARK_SECRET_KEY = ARK_SECRET_KEY
    settings.ARK_ASSET_API_BASE = f"{base}/ark-open"
    settings.ARK_ASSET_REGION = ARK_REGION
    settings.TURNAROUND_DOWNLOAD_HOSTS = [base.split("//", 1)[1]]
    settings.TURNAROUND_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
    return fake_provider


@pytest.fixture
def fast(sleeps: Sleeps) -> dict[str, Any]:
    """Transport options for tests: no real sleeping, short timeouts."""
    # The read timeout leaves room for the fake to draw a 4K sheet on a busy 2-core machine;
    # the hang faults hold the connection longer than it.
    return {"sleep": sleeps, "read_timeout": 2.0, "deadline": 8.0, "backoff_base": 0.01}
