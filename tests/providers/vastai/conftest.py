"""Fixtures: one server for the session, a fresh FakeVastAICloud behind it per test, and a
VastAIProvider pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.http_server import serve_app
from tests.fakes.vastai import FakeVastAICloud


class _AppSwitch:
    """One server for the whole session; each test points it at its own fresh fake."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[_AppSwitch, str]]:
    switch = _AppSwitch()
    with serve_app(switch) as url:
        yield switch, url


@pytest.fixture
def fake(_server: tuple[_AppSwitch, str]) -> FakeVastAICloud:
    fake = FakeVastAICloud()
    _server[0].target = fake.app()
    return fake


@pytest.fixture
def base_url(fake: FakeVastAICloud, _server: tuple[_AppSwitch, str]) -> str:
    return _server[1]


@pytest.fixture
def provider(fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient) -> VastAIProvider:
    return VastAIProvider(api_key=fake.api_key, http=http, base_url=base_url, timeout_s=5.0)
