"""Fixtures: a FakeRunPodCloud on a real socket and a RunPodProvider pointed at it."""

from __future__ import annotations

import httpx
import pytest

from harvestgpu.providers.runpod import RunPodProvider
from tests.fakes.runpod import FakeRunPodCloud


@pytest.fixture
def fake() -> FakeRunPodCloud:
    return FakeRunPodCloud()


@pytest.fixture
def provider(fake: FakeRunPodCloud, base_url: str, http: httpx.AsyncClient) -> RunPodProvider:
    runpod = RunPodProvider(api_key=fake.api_key, http=http, base_url=base_url, timeout_s=5.0)
    runpod.log_idle_s = 0.2  # the fake sends its backfill at once; no need to wait longer
    return runpod
