"""Helpers shared by the Vast.ai adapter tests."""

from __future__ import annotations

from collections.abc import Mapping

from harvestgpu.providers.base import instance_name
from harvestgpu.providers.types import LaunchSpec, Offer, OfferQuery
from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.vastai import FakeVastAICloud

STORAGE_PER_HOUR_50GB = 50 * 0.15 / 720


async def cheapest(provider: VastAIProvider, gpu_key: str = "H100-SXM", gpu_count: int = 1) -> Offer:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({gpu_key}), gpu_count=gpu_count))
    assert offers, f"no {gpu_key} offer"
    return min(offers, key=lambda o: o.price_per_hour)


def spec_for(
    offer: Offer,
    job_id: str = "job01",
    command: str | None = "python train.py --epochs 3",
    env: Mapping[str, str] | None = None,
    disk_gb: int = 50,
) -> LaunchSpec:
    return LaunchSpec(
        job_id=job_id,
        name=instance_name(job_id),
        offer=offer,
        image="pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
        command=command,
        env=dict(env or {}),
        disk_gb=disk_gb,
    )


def requests_to(fake: FakeVastAICloud, method: str, path_prefix: str) -> list[dict[str, str]]:
    """Headers of every request the fake saw for this method and path prefix."""
    return [h for m, p, h in fake.requests_seen if m == method and p.startswith(path_prefix)]
