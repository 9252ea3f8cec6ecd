"""Shared test helpers for the RunPod adapter tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harvestgpu.providers.runpod import RunPodProvider
from harvestgpu.providers.types import LaunchSpec, Offer, OfferQuery


async def offer_for(provider: RunPodProvider, gpu_key: str, region: str | None = None) -> Offer:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({gpu_key})))
    return next(o for o in offers if region is None or o.region == region)


def launch_spec(offer: Offer, job_id: str = "job123", **overrides: Any) -> LaunchSpec:
    spec = LaunchSpec(
        job_id=job_id,
        name=f"hg-{job_id}",
        offer=offer,
        image="pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
        command="python train.py --epochs 3",
        env={"HF_HOME": "/cache"},
        disk_gb=40,
    )
    return replace(spec, **overrides)


def assert_key_hidden(key: str, *texts: object) -> None:
    for text in texts:
        assert key not in str(text)
        assert key not in repr(text)
