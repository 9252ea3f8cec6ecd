"""Fixtures for SDK unit tests: clients over an ``httpx.MockTransport`` with a fake clock.

The fake clock replaces the requester's ``sleep`` and ``clock`` seams, so retries and polling
run instantly and the waits the SDK chose are recorded instead of slept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harvestgpu import AsyncHarvestGPU, HarvestGPU
from tests.sdk.live_server import Account, LiveServer, register, run_live_server
from tests.sdk.scripted import API_KEY, BASE_URL, FakeClock, Handler


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A developer's own HARVESTGPU_* variables and saved login must not leak into the tests.

    The SDK's last source for a key and a server is the file ``harvestgpu auth login`` writes;
    each test gets its own (empty) config dir.
    """
    monkeypatch.delenv("HARVESTGPU_API_KEY", raising=False)
    monkeypatch.delenv("HARVESTGPU_BASE_URL", raising=False)
    directory = tmp_path / "harvestgpu-config"
    monkeypatch.setenv("HARVESTGPU_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., HarvestGPU]]:
    """Build a ``HarvestGPU`` whose HTTP goes to ``handler`` and whose waits use the fake clock."""
    http_clients: list[httpx.Client] = []

    def factory(handler: Handler, *, api_key: str | None = API_KEY, **options: Any) -> HarvestGPU:
        http_client = httpx.Client(transport=httpx.MockTransport(handler))
        http_clients.append(http_client)
        client = HarvestGPU(api_key=api_key, base_url=BASE_URL, http_client=http_client, **options)
        client._http.sleep = clock.sleep
        client._http.clock = clock.monotonic
        return client

    yield factory
    for http_client in http_clients:
        http_client.close()


@pytest.fixture
async def make_async_client(clock: FakeClock) -> AsyncIterator[Callable[..., AsyncHarvestGPU]]:
    """Async twin of ``make_client``."""
    http_clients: list[httpx.AsyncClient] = []

    def factory(handler: Handler, *, api_key: str | None = API_KEY, **options: Any) -> AsyncHarvestGPU:
        http_client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        http_clients.append(http_client)
        client = AsyncHarvestGPU(api_key=api_key, base_url=BASE_URL, http_client=http_client, **options)
        client._http.sleep = clock.async_sleep
        client._http.clock = clock.monotonic
        return client

    yield factory
    for http_client in http_clients:
        await http_client.aclose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server, started once for all SDK integration tests."""
    with run_live_server(tmp_path_factory.mktemp("sdk-live-server")) as server:
        yield server


@pytest.fixture
def account(live_server: LiveServer) -> Account:
    """A fresh account on the live server (its own job and request limits)."""
    return register(live_server)
