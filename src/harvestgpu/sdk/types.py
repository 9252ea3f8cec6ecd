"""Answers of the account, key and pricing calls (the job shapes live in ``harvestgpu.models``).

Secrets that the server shows once (a new API key, a JWT) are kept out of ``repr`` so they do
not end up in logs by accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field

from harvestgpu.models import JobOut, PriceEntry, ProviderStatus


class Registration(BaseModel):
    """A new account: its API key (``hg_live_...``, shown only now) and a session token."""

    user_id: str
    email: str
    api_key: str = Field(repr=False)
    token: str = Field(repr=False)


class Session(BaseModel):
    """A login: a JWT usable as ``api_key`` until ``expires_at``."""

    token: str = Field(repr=False)
    user_id: str
    email: str
    expires_at: datetime | None = None


class Usage(BaseModel):
    """Spend of the current billing period."""

    period: str
    total_cost: float
    jobs: int
    gpu_hours: float


class Account(BaseModel):
    """The authenticated user (``GET /auth/me``)."""

    user_id: str
    email: str
    company: str | None = None
    plan: str
    created_at: datetime
    usage: Usage
    active_jobs: list[JobOut] = Field(default_factory=list)


class ProviderKey(BaseModel):
    """A connected provider account. Only the key's last 4 characters ever come back."""

    provider: str
    label: str | None = None
    last4: str
    active: bool
    created_at: datetime
    last_tested_at: datetime | None = None
    last_test_valid: bool | None = None
    last_test_message: str | None = None


class ProviderKeyTest(BaseModel):
    """Result of asking the provider whether a stored key works."""

    provider: str
    valid: bool
    message: str


class ApiKey(BaseModel):
    """One of the user's HarvestGPU API keys (without the secret part)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


class NewApiKey(BaseModel):
    """A freshly created API key; ``api_key`` is shown only in this answer."""

    id: str
    name: str
    prefix: str
    api_key: str = Field(repr=False)
    created_at: datetime


class PriceList(list[PriceEntry]):
    """GPU prices, cheapest first as the server sorts them, plus each provider's state.

    It is a plain ``list`` of :class:`~harvestgpu.models.PriceEntry` (``gpu_model``, ``price``,
    ``provider``, ``gpu_count``, ``region``, ``available``, ...); ``providers`` tells which
    providers answered, failed, or are not connected.
    """

    def __init__(self, entries: Iterable[PriceEntry] = (), providers: Iterable[ProviderStatus] = ()) -> None:
        super().__init__(entries)
        self.providers: list[ProviderStatus] = list(providers)
