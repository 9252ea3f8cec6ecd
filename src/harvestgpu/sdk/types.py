"""Answers of the account, key, pricing, usage and webhook calls (job shapes: ``harvestgpu.models``).

Secrets that the server shows once (a new API key, a JWT, a webhook signing secret) are kept out
of ``repr`` so they do not end up in logs by accident.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from datetime import datetime
from typing import Any

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


class ProviderOffers(list[PriceEntry]):
    """One provider's current offers, plus whether it could be asked.

    It is a plain ``list`` of :class:`~harvestgpu.models.PriceEntry`, the entries ``pricing()``
    gives, sorted by GPU model, GPU count and price. It is empty when the provider is not
    connected to your account (``connected`` is False; ``mock`` is always connected unless the
    server disabled it, then ``error`` says so) or when its offer listing failed (``error`` says
    why).
    """

    def __init__(
        self,
        entries: Iterable[PriceEntry] = (),
        *,
        provider: str,
        connected: bool,
        error: str | None = None,
    ) -> None:
        super().__init__(entries)
        self.provider = provider
        self.connected = connected
        self.error = error


# --- usage and spend limit ----------------------------------------------------------------------


class UsageTotals(BaseModel):
    """What a slice of usage added up to: instance hours, hours times GPUs, USD and jobs that ran."""

    hours: float
    gpu_hours: float
    cost: float
    jobs: int


class UsageByDay(UsageTotals):
    """One UTC day of the month (days without usage are zeros)."""

    date: dt.date


class UsageByProvider(UsageTotals):
    """This month's usage on one provider."""

    provider: str


class UsageByGpu(UsageTotals):
    """This month's usage on one GPU model."""

    gpu_type: str


class UsageByMonth(UsageTotals):
    """What the ended jobs of one calendar month (``"2026-04"``) cost."""

    period: str


class MonthlyUsage(BaseModel):
    """This calendar month (UTC) up to ``as_of``; running jobs count up to then.

    ``monthly_limit`` and ``remaining`` are None when no spend limit is set.
    """

    period: str
    start: datetime
    end: datetime
    as_of: datetime
    total_cost: float
    hours: float
    gpu_hours: float
    jobs: int
    running_jobs: int
    monthly_limit: float | None = None
    remaining: float | None = None
    daily: list[UsageByDay] = Field(default_factory=list)
    by_provider: list[UsageByProvider] = Field(default_factory=list)
    by_gpu: list[UsageByGpu] = Field(default_factory=list)


class UsageRecord(BaseModel):
    """What one ended job cost: written when the job ended, with its exact times and total."""

    id: str
    job_id: str
    status: str
    provider: str
    gpu_type: str
    gpu_count: int
    cost_per_hour: float
    started_at: datetime
    ended_at: datetime
    hours: float
    cost: float


class UsageHistoryPage(BaseModel):
    """One page of ``GET /billing/history``: records newest first, and totals per month."""

    records: list[UsageRecord]
    total: int
    months: list[UsageByMonth] = Field(default_factory=list)


class SpendLimit(BaseModel):
    """The monthly spend limit (None: no limit), this month's spend and what is left of it."""

    monthly_limit: float | None = None
    period: str
    spent: float
    remaining: float | None = None


# --- webhooks -----------------------------------------------------------------------------------


class Webhook(BaseModel):
    """A registered webhook (its signing secret is only ever in :class:`NewWebhook`)."""

    id: str
    url: str
    events: list[str]
    created_at: datetime


class NewWebhook(Webhook):
    """A freshly created webhook; ``secret`` (``whsec_...``) is shown only in this answer."""

    secret: str = Field(repr=False)


class WebhookDelivery(BaseModel):
    """One delivery of an event to a webhook: ``pending``, ``delivered`` or ``failed``.

    ``event_id`` is the same on every retry and re-send of the event (receivers deduplicate on
    it); ``payload`` is the JSON body that is (or was) POSTed.
    """

    id: str
    event_id: str
    event: str
    status: str
    attempts: int
    response_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class DeliveryPage(BaseModel):
    """One page of ``GET /webhooks/{id}/deliveries``, newest first."""

    deliveries: list[WebhookDelivery]
    total: int
