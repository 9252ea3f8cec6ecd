"""Fixtures: a FakeLambdaCloud on a real socket and a LambdaProvider pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.base import instance_name
from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.types import AgentConfig, LaunchSpec, Offer, OfferQuery
from tests.fakes.http_server import serve_app
from tests.fakes.lambdalabs import FakeLambdaCloud


@pytest.fixture
def fake() -> FakeLambdaCloud:
    return FakeLambdaCloud()


@pytest.fixture
def provider(fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient) -> LambdaProvider:
    return LambdaProvider(api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=5.0)


async def offer_for(provider: LambdaProvider, gpu_key: str, gpu_count: int = 1) -> Offer:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({gpu_key}), gpu_count=gpu_count))
    return next(o for o in offers if o.available and o.gpu_count == gpu_count)


def launch_spec(
    offer: Offer,
    job_id: str = "job01HZX3K9Q2",
    *,
    agent: AgentConfig | None = None,
    ssh_public_key: str | None = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample harvestgpu",
    env: dict[str, str] | None = None,
) -> LaunchSpec:
    return LaunchSpec(
        job_id=job_id,
        name=instance_name(job_id),
        offer=offer,
        image="ghcr.io/acme/train:1.2",
        command="python train.py --epochs 3",
        env=env or {"WANDB_MODE": "offline"},
        agent=agent,
        ssh_public_key=ssh_public_key,
    )


@dataclass
class AgentReceiver:
    """Stands in for HarvestGPU's agent endpoints: records what a VM posts back."""

    token: str = "agent-token-for-one-job"
    posts: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"error": "bad token"}, status_code=401)
            self.posts.append((request.url.path, await request.json(), request.headers["authorization"]))
            return JSONResponse({"ok": True})

        return Starlette(
            routes=[
                Route("/api/v1/agent/jobs/{job_id}/logs", receive, methods=["POST"]),
                Route("/api/v1/agent/jobs/{job_id}/exit", receive, methods=["POST"]),
            ]
        )


@pytest.fixture
def agent_receiver() -> Iterator[tuple[AgentReceiver, str]]:
    receiver = AgentReceiver()
    with serve_app(receiver.app()) as url:
        yield receiver, url
