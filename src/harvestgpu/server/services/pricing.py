"""Live offers across a user's accounts, the /pricing matrix and the /providers listing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harvestgpu import gpus
from harvestgpu.providers import registry
from harvestgpu.providers.types import Offer, OfferQuery
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import BadRequest, NotFound
from harvestgpu.server.services import provider_keys
from harvestgpu.server.services.offers import SourceResult


@dataclass
class OfferSet:
    offers: list[Offer] = field(default_factory=list)
    results: list[SourceResult] = field(default_factory=list)
    key_ids: dict[str, str] = field(default_factory=dict)  # provider slug -> provider key id


def mock_joins(ctx: AppContext, has_real_keys: bool, requested: str | None) -> bool:
    """SPEC appendix: the mock places jobs for users with no active real key, or when asked."""
    mode = ctx.settings.mock_mode
    if mode == "never":
        return False
    if requested is not None:
        return requested == registry.MOCK
    return mode == "always" or not has_real_keys


async def gather_offers(
    ctx: AppContext,
    user_id: str | None,
    *,
    requested: str | None = None,
    for_pricing: bool = False,
    gpu_count: int = 1,
) -> OfferSet:
    """Offers from every source that may serve this user, fetched concurrently (cached).

    Real clouds price per GPU count (RunPod's catalog, Vast's machines, TensorDock's VMs), so
    offers are fetched and cached per count.
    """
    accounts = await provider_keys.active_accounts(ctx, user_id) if user_id else []
    if requested and registry.is_real(requested):
        accounts = [a for a in accounts if a.provider == requested]
    elif requested == registry.MOCK:
        accounts = []
    timeout = ctx.settings.provider_timeout_s
    fetches = []
    include_mock = (
        ctx.settings.mock_mode != "never" if for_pricing else mock_joins(ctx, bool(accounts), requested)
    )
    if include_mock:
        mock = provider_keys.make_adapter(ctx, registry.MOCK)
        fetches.append(ctx.offer_cache.get("mock", "mock", lambda: mock.list_offers(OfferQuery()), timeout))
    for acct in accounts:
        adapter = provider_keys.make_adapter(ctx, acct.provider, acct.api_key)
        fetches.append(
            ctx.offer_cache.get(
                f"{acct.key_id}:x{gpu_count}",
                acct.provider,
                _fetcher(adapter, gpu_count),
                timeout,
                owner=user_id,
            )
        )
    results = list(await asyncio.gather(*fetches))
    out = OfferSet(results=results, key_ids={a.provider: a.key_id for a in accounts})
    for r in results:
        out.offers.extend(r.offers)
    return out


def _fetcher(adapter: Any, gpu_count: int) -> Any:
    async def fetch() -> list[Offer]:
        offers: list[Offer] = await adapter.list_offers(OfferQuery(gpu_count=gpu_count))
        return offers

    return fetch


def price_entry(offer: Offer, now: datetime) -> dict[str, Any]:
    model = gpus.BY_KEY.get(offer.gpu_model)
    return {
        "gpu_model": offer.gpu_model,
        "gpu_name": model.display if model else offer.gpu_model,
        "price": offer.price_per_hour,
        "provider": offer.provider,
        "gpu_count": offer.gpu_count,
        "vram_gb": offer.vram_gb,
        "region": offer.region,
        "available": offer.available,
        "observed_at": offer.observed_at,
        "age_s": round(max(0.0, (now - offer.observed_at).total_seconds()), 1),
    }


def _gpu_filter(gpu: str | None) -> frozenset[str] | None:
    if not gpu:
        return None
    sel = gpus.parse(gpu)
    if sel is None:
        raise BadRequest(f"Unknown GPU '{gpu}'. Known GPUs: {', '.join(gpus.known_names())}")
    return sel.keys


def _statuses(offer_set: OfferSet, connected: set[str], include_mock: bool) -> list[dict[str, Any]]:
    by_provider = {r.provider: r for r in offer_set.results}
    out: list[dict[str, Any]] = []
    for slug in registry.ALL_PROVIDERS:
        if slug == registry.MOCK and not include_mock:
            continue
        r = by_provider.get(slug)
        if r is None:
            out.append(
                {"provider": slug, "state": "not_connected", "error": None, "offers": 0, "age_s": None}
            )
        else:
            out.append(
                {
                    "provider": slug,
                    "state": "error" if r.error else "ok",
                    "error": r.error,
                    "offers": len(r.offers),
                    "age_s": None if r.age_s is None else round(r.age_s, 1),
                }
            )
    return out


async def pricing(ctx: AppContext, user_id: str | None, gpu: str | None) -> dict[str, Any]:
    keys = _gpu_filter(gpu)
    offer_set = await gather_offers(ctx, user_id, for_pricing=True)
    now = datetime.now(UTC)
    entries = [price_entry(o, now) for o in offer_set.offers if keys is None or o.gpu_model in keys]
    entries.sort(key=lambda e: (e["gpu_model"], e["gpu_count"], e["price"], e["provider"], e["region"]))
    connected = {r.provider for r in offer_set.results}
    return {
        "pricing": entries,
        "providers": _statuses(offer_set, connected, ctx.settings.mock_mode != "never"),
    }


async def providers_list(ctx: AppContext, user_id: str | None) -> list[dict[str, Any]]:
    """Every provider; for a signed-in user, whether each of their clouds can take jobs now.

    ``available`` comes from the same cached, concurrent offer fetch as /pricing: a connected
    cloud whose key fails or that lists nothing is connected but not available.
    """
    mock_on = ctx.settings.mock_mode != "never"
    results = {}
    if user_id is not None:
        offer_set = await gather_offers(ctx, user_id, for_pricing=True)
        results = {r.provider: r for r in offer_set.results}
    out = []
    for slug in registry.ALL_PROVIDERS:
        info = registry.provider_info(slug)
        is_mock = slug == registry.MOCK
        r = results.get(slug)
        if is_mock:
            connected = available = mock_on
            models = sorted(_mock_models()) if mock_on else []
            state, error = ("ok" if mock_on else "disabled"), None
        else:
            connected = r is not None
            models = sorted({o.gpu_model for o in r.offers}) if r is not None else []
            available = r is not None and r.error is None and any(o.available for o in r.offers)
            state = "not_connected" if r is None else ("error" if r.error else "ok")
            error = r.error if r is not None else None
        out.append(
            {
                "slug": slug,
                "name": info.name,
                "key_url": info.key_url,
                "connected": connected,
                "available": available,
                "state": state,
                "error": error,
                "gpus": models,
                "logs": "simulated" if is_mock else ("api" if info.logs_via_api else "agent"),
            }
        )
    return out


def _mock_models() -> list[str]:
    from harvestgpu.providers.mock import MOCK_PRICES

    return list(MOCK_PRICES)


async def provider_gpus(ctx: AppContext, slug: str, user_id: str | None) -> dict[str, Any]:
    if slug not in registry.ALL_PROVIDERS:
        raise NotFound(f"Unknown provider '{slug}'. Providers: {', '.join(registry.ALL_PROVIDERS)}")
    if slug == registry.MOCK and ctx.settings.mock_mode == "never":
        return {"provider": slug, "connected": False, "gpus": [], "error": "The mock provider is disabled"}
    if slug != registry.MOCK:
        accounts = await provider_keys.active_accounts(ctx, user_id) if user_id else []
        if not any(a.provider == slug for a in accounts):
            return {"provider": slug, "connected": False, "gpus": [], "error": None}
    offer_set = await gather_offers(ctx, user_id, requested=slug, for_pricing=slug == registry.MOCK)
    now = datetime.now(UTC)
    mine = [o for o in offer_set.offers if o.provider == slug]
    error = next((r.error for r in offer_set.results if r.provider == slug and r.error), None)
    entries = sorted(
        (price_entry(o, now) for o in mine), key=lambda e: (e["gpu_model"], e["gpu_count"], e["price"])
    )
    return {"provider": slug, "connected": True, "gpus": entries, "error": error}
