"""Everything a request handler or worker needs, built once per process by create_app()."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from harvestgpu.providers.mock import MockBehaviour, MockCloud
from harvestgpu.providers.registry import REAL_PROVIDERS
from harvestgpu.server.cache_sync import AuthCache, CacheSync
from harvestgpu.server.db import Database
from harvestgpu.server.metrics import MeteredTransport, Metrics
from harvestgpu.server.security import MasterKey
from harvestgpu.server.services.offers import OfferCache
from harvestgpu.server.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    master: MasterKey
    http: httpx.AsyncClient
    mock_cloud: MockCloud
    offer_cache: OfferCache
    metrics: Metrics
    auth_cache: AuthCache
    cache_sync: CacheSync
    # Set when a job becomes due so the engine does not wait for its next poll.
    engine_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # (expires at, stats by provider) cached by services/provider_stats.py
    provider_stats_cache: tuple[float, dict[str, Any]] | None = None
    # When the orphan sweep first listed an instance of no known job (workers/orphans.py).
    orphan_first_seen: dict[tuple[str, str | None, str], datetime] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics | None = None) -> AppContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        behaviour = MockBehaviour(
            job_seconds=settings.mock_job_seconds,
            boot_seconds=settings.mock_boot_seconds,
            no_capacity=MockBehaviour.no_capacity_keys(settings.mock_no_capacity),
            latency_s=settings.mock_latency_ms / 1000,
            stuck_boot=MockBehaviour.no_capacity_keys(settings.mock_stuck_boot),
        )
        metrics = metrics or Metrics()
        auth_cache = AuthCache()
        offer_cache = OfferCache(ttl_s=settings.price_ttl_s)
        return cls(
            settings=settings,
            db=Database(settings.effective_database_url),
            master=MasterKey.load(settings.secret_key, settings.data_dir),
            http=httpx.AsyncClient(
                timeout=httpx.Timeout(settings.provider_timeout_s),
                transport=MeteredTransport(
                    httpx.AsyncHTTPTransport(
                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
                    ),
                    metrics,
                    {url: slug for slug in REAL_PROVIDERS if (url := settings.provider_base_url(slug))},
                ),
                headers={"User-Agent": "harvestgpu/0.1"},
            ),
            mock_cloud=MockCloud(settings.data_dir / "mock-cloud.sqlite3", behaviour),
            offer_cache=offer_cache,
            metrics=metrics,
            auth_cache=auth_cache,
            cache_sync=CacheSync(auth_cache, offer_cache, settings.redis_url, settings.redis_key_prefix),
        )

    async def close(self) -> None:
        await self.cache_sync.close()
        await self.http.aclose()
        await self.db.dispose()
        self.mock_cloud.close()
