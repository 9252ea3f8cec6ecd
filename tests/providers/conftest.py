"""Fixtures the adapter suites share: the suite's fake cloud on a real socket and an httpx client.

Each adapter's conftest defines ``fake`` (its fake cloud) and ``provider`` (its adapter pointed at
``base_url``), plus whatever else differs; a module may override any of these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.http_server import serve_app


@pytest.fixture
def fake_url(fake: Any) -> Iterator[str]:
    with serve_app(fake.app()) as url:
        yield url


@pytest.fixture
def base_url(fake_url: str) -> str:
    return fake_url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
