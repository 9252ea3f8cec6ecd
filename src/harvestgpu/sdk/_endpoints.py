"""Every HarvestGPU endpoint the SDK calls, as :class:`Operation` builders.

Adding a resource means adding builders here and a thin namespace class for each client
flavour; the request path does not change.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from harvestgpu.errors import InvalidRequestError
from harvestgpu.models import JobList, JobLogs, JobOut, PricingOut, ProviderGpus, ProviderOut
from harvestgpu.sdk._operation import (
    Operation,
    QueryValue,
    ignore_data,
    model,
    model_list,
    segment,
)
from harvestgpu.sdk.types import (
    Account,
    ApiKey,
    DeliveryPage,
    MonthlyUsage,
    NewApiKey,
    NewWebhook,
    PriceList,
    ProviderKey,
    ProviderKeyTest,
    ProviderOffers,
    Registration,
    Session,
    SpendLimit,
    UsageHistoryPage,
    Webhook,
    WebhookDelivery,
)

MAX_PAGE_SIZE = 100
SSE_MEDIA_TYPE = "text/event-stream"


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def require_finite(name: str, value: float | None, meaning: str) -> None:
    """``InvalidRequestError`` naming the SDK parameter when ``value`` is NaN or infinite.

    JSON has no such numbers, so they could not even be sent; ``meaning`` says what is expected.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequestError(f"{name} must be {meaning}, not {value!r}", status=400)


# --- auth -------------------------------------------------------------------------------------


def register(email: str, password: str, company: str | None) -> Operation[Registration]:
    body = _without_none({"email": email, "password": password, "company": company})
    # Not replay safe: a lost answer followed by a retry would report "already registered".
    return Operation(
        "POST",
        "/auth/register",
        model(Registration),
        body=body,
        auth="none",
        replay_safe=False,
        secrets=(password,),
    )


def login(email: str, password: str) -> Operation[Session]:
    body = {"email": email, "password": password}
    return Operation("POST", "/auth/login", model(Session), body=body, auth="none", secrets=(password,))


def me() -> Operation[Account]:
    return Operation("GET", "/auth/me", model(Account))


# --- jobs -------------------------------------------------------------------------------------


def job_body(
    *,
    gpu: str,
    image: str,
    command: str | None,
    budget_max: float | None,
    max_duration: float | None,
    priority: str,
    gpu_count: int,
    provider: str | None,
    env: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The ``POST /jobs`` body, with the SDK's argument names mapped to the wire names."""
    require_finite("budget_max", budget_max, "a finite price in USD per hour, above 0")
    require_finite("max_duration", max_duration, "a finite number of hours, above 0")
    require_finite("gpu_count", gpu_count, "a whole number of GPUs")
    return _without_none(
        {
            "gpu": gpu,
            "image": image,
            "command": command,
            "budget_max_per_hour": budget_max,
            "max_duration_hours": max_duration,
            "priority": priority,
            "gpu_count": gpu_count,
            "provider": provider,
            "env": dict(env) if env is not None else None,
        }
    )


def submit_job(body: Mapping[str, Any], idempotency_key: str | None) -> Operation[JobOut]:
    """A job submit; one ``Idempotency-Key`` per call makes its retries safe."""
    env = body.get("env") or {}
    return Operation(
        "POST",
        "/jobs",
        model(JobOut),
        body=dict(body),
        idempotency_key=idempotency_key or str(uuid.uuid4()),
        no_capacity_is_final=True,
        secrets=tuple(str(value) for value in env.values()),
    )


def get_job(job_id: str) -> Operation[JobOut]:
    return Operation("GET", f"/jobs/{segment(job_id)}", model(JobOut))


def list_jobs(
    *, status: str | None, gpu: str | None, provider: str | None, limit: int, offset: int
) -> Operation[JobList]:
    params: dict[str, QueryValue] = _without_none(
        {"status": status, "gpu": gpu, "provider": provider, "limit": limit, "offset": offset}
    )
    return Operation("GET", "/jobs", model(JobList), params=params)


def stop_job(job_id: str) -> Operation[JobOut]:
    return Operation("POST", f"/jobs/{segment(job_id)}/stop", model(JobOut))


def job_logs(job_id: str, offset: int) -> Operation[JobLogs]:
    return Operation("GET", f"/jobs/{segment(job_id)}/logs", model(JobLogs), params={"offset": offset})


def follow_job_logs(job_id: str, offset: int) -> Operation[None]:
    """The Server-Sent Events log stream (read through ``stream()``, never parsed as JSON)."""
    return Operation(
        "GET",
        f"/jobs/{segment(job_id)}/logs",
        ignore_data,
        params={"offset": offset, "follow": True},
        headers={"Accept": SSE_MEDIA_TYPE},
    )


# --- providers and pricing --------------------------------------------------------------------


def _price_list(data: Any) -> PriceList:
    pricing = PricingOut.model_validate(data)
    return PriceList(pricing.pricing, pricing.providers)


def pricing(gpu: str | None) -> Operation[PriceList]:
    return Operation("GET", "/pricing", _price_list, params=_without_none({"gpu": gpu}), auth="optional")


def providers() -> Operation[list[ProviderOut]]:
    return Operation("GET", "/providers", model_list("providers", ProviderOut), auth="optional")


def _provider_offers(data: Any) -> ProviderOffers:
    answer = ProviderGpus.model_validate(data)
    return ProviderOffers(
        answer.gpus, provider=answer.provider, connected=answer.connected, error=answer.error
    )


def provider_gpus(slug: str) -> Operation[ProviderOffers]:
    return Operation("GET", f"/providers/{segment(slug)}/gpus", _provider_offers, auth="optional")


# --- provider keys ----------------------------------------------------------------------------


def add_provider_key(provider: str, api_key: str, label: str | None) -> Operation[ProviderKey]:
    body = _without_none({"provider": provider, "api_key": api_key, "label": label})
    return Operation("POST", "/providers/keys", model(ProviderKey), body=body, secrets=(api_key,))


def list_provider_keys() -> Operation[list[ProviderKey]]:
    return Operation("GET", "/providers/keys", model_list("keys", ProviderKey))


def remove_provider_key(provider: str) -> Operation[None]:
    return Operation("DELETE", f"/providers/keys/{segment(provider)}", ignore_data)


def check_provider_key(provider: str) -> Operation[ProviderKeyTest]:
    return Operation("POST", f"/providers/keys/{segment(provider)}/test", model(ProviderKeyTest))


# --- HarvestGPU API keys ----------------------------------------------------------------------


def create_api_key(name: str) -> Operation[NewApiKey]:
    # Not replay safe: a retried create after a lost answer would mint a second key.
    return Operation("POST", "/auth/keys", model(NewApiKey), body={"name": name}, replay_safe=False)


def list_api_keys() -> Operation[list[ApiKey]]:
    return Operation("GET", "/auth/keys", model_list("keys", ApiKey))


def revoke_api_key(key_id: str) -> Operation[None]:
    return Operation("DELETE", f"/auth/keys/{segment(key_id)}", ignore_data)


# --- usage and spend limit --------------------------------------------------------------------


def current_usage() -> Operation[MonthlyUsage]:
    return Operation("GET", "/billing/usage", model(MonthlyUsage))


def usage_history(limit: int, offset: int) -> Operation[UsageHistoryPage]:
    return Operation(
        "GET", "/billing/history", model(UsageHistoryPage), params={"limit": limit, "offset": offset}
    )


def spend_limit() -> Operation[SpendLimit]:
    return Operation("GET", "/billing/limit", model(SpendLimit))


def set_spend_limit(monthly_limit: float | None) -> Operation[SpendLimit]:
    require_finite("amount", monthly_limit, "a finite amount in USD above 0 (None removes the limit)")
    # null is the documented way to remove the limit, so it is sent rather than left out.
    body = {"monthly_limit": None if monthly_limit is None else float(monthly_limit)}
    return Operation("PUT", "/billing/limit", model(SpendLimit), body=body)


# --- webhooks ---------------------------------------------------------------------------------


def create_webhook(url: str, events: str | Sequence[str] | None) -> Operation[NewWebhook]:
    wire_events = events if events is None or isinstance(events, str) else list(events)
    # Not replay safe: a retried create after a lost answer would register the URL twice.
    return Operation(
        "POST",
        "/webhooks",
        model(NewWebhook),
        body=_without_none({"url": url, "events": wire_events}),
        replay_safe=False,
    )


def list_webhooks() -> Operation[list[Webhook]]:
    return Operation("GET", "/webhooks", model_list("webhooks", Webhook))


def delete_webhook(webhook_id: str) -> Operation[None]:
    return Operation("DELETE", f"/webhooks/{segment(webhook_id)}", ignore_data)


def webhook_deliveries(webhook_id: str, limit: int, offset: int) -> Operation[DeliveryPage]:
    return Operation(
        "GET",
        f"/webhooks/{segment(webhook_id)}/deliveries",
        model(DeliveryPage),
        params={"limit": limit, "offset": offset},
    )


def resend_delivery(webhook_id: str, delivery_id: str) -> Operation[WebhookDelivery]:
    # Not replay safe: a retry after a lost answer would queue the event a second time.
    return Operation(
        "POST",
        f"/webhooks/{segment(webhook_id)}/deliveries/{segment(delivery_id)}/resend",
        model(WebhookDelivery),
        replay_safe=False,
    )
