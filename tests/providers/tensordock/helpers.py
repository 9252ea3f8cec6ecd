"""Shared helpers for the TensorDock adapter tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harvestgpu.providers.base import instance_name
from harvestgpu.providers.tensordock import TensorDockProvider
from harvestgpu.providers.types import AgentConfig, LaunchSpec, Offer, OfferQuery

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHarvestGpuTestKey harvestgpu"
AGENT_TOKEN = "hgagent_job_scoped_token_123"


@dataclass
class AgentReceiver:
    url: str
    posts: list[tuple[str, str, Any]] = field(default_factory=list)  # (path, auth header, json)


async def offer_for(provider: TensorDockProvider, gpu_key: str, gpu_count: int = 1) -> Offer:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({gpu_key}), gpu_count=gpu_count))
    assert offers, f"no {gpu_key} offer"
    return offers[0]


def launch_spec(
    offer: Offer,
    *,
    job_id: str = "job7f3a",
    agent_url: str | None = None,
    ssh_key: str | None = SSH_KEY,
    env: dict[str, str] | None = None,
    command: str | None = "python train.py --epochs 3",
) -> LaunchSpec:
    return LaunchSpec(
        job_id=job_id,
        name=instance_name(job_id),
        offer=offer,
        image="ghcr.io/acme/train:1.2",
        command=command,
        env=env or {"WANDB_MODE": "offline"},
        gpu_count=offer.gpu_count,
        disk_gb=50,
        agent=AgentConfig(base_url=agent_url, token=AGENT_TOKEN) if agent_url else None,
        ssh_public_key=ssh_key,
    )
