"""Fixtures: a fake TensorDock cloud on a real socket, the adapter pointed at it, and an agent
receiver standing in for HarvestGPU's /api/v1/agent endpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.tensordock import TensorDockProvider
from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.providers.tensordock.helpers import AgentReceiver


@pytest.fixture
def fake() -> FakeTensorDockCloud:
    return FakeTensorDockCloud()


@pytest.fixture
def provider(fake: FakeTensorDockCloud, fake_url: str, http: httpx.AsyncClient) -> TensorDockProvider:
    return TensorDockProvider(api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=5.0)


@pytest.fixture
def agent_receiver() -> Iterator[AgentReceiver]:
    lock = threading.Lock()
    receiver = AgentReceiver(url="")

    async def record(request: Request) -> JSONResponse:
        body = await request.json()
        with lock:
            receiver.posts.append((request.url.path, request.headers.get("authorization", ""), body))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/v1/agent/jobs/{job_id}/{kind}", record, methods=["POST"])])
    with serve_app(app) as url:
        receiver.url = url
        yield receiver
