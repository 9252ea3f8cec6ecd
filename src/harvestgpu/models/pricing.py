"""Providers and pricing wire shapes (SPEC appendix "Pricing entries")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class PriceEntry(BaseModel):
    gpu_model: str  # canonical catalog key, e.g. "H100-SXM"
    gpu_name: str  # display name, e.g. "H100 SXM 80GB"
    price: float  # USD per hour for the whole offer
    provider: str
    gpu_count: int
    vram_gb: int
    region: str
    available: bool
    observed_at: datetime
    age_s: float  # seconds since observed_at when the response was built


class ProviderStatus(BaseModel):
    provider: str
    state: Literal["ok", "error", "not_connected"]
    error: str | None = None
    offers: int = 0
    age_s: float | None = None


class PricingOut(BaseModel):
    pricing: list[PriceEntry]
    providers: list[ProviderStatus]


class ProviderOut(BaseModel):
    slug: str
    name: str
    key_url: str
    connected: bool  # the caller has an active key (always True for mock)
    available: bool  # usable for placement right now: its offer listing works and has capacity
    # "ok", "error" (the key or the cloud failed: see error), "not_connected" or "disabled"
    state: str = "ok"
    error: str | None = None
    gpus: list[str]  # canonical models currently offered (empty when unknown)
    logs: Literal["api", "agent", "simulated"]


class ProviderGpus(BaseModel):
    provider: str
    connected: bool
    gpus: list[PriceEntry]
    error: str | None = None
