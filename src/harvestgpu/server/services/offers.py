"""A per-account offer cache: short TTL, stale-while-revalidate, bounded fetches.

One slow or failing cloud never blocks the others: every source is fetched concurrently with
its own timeout, and a source that errors reports its error beside the others' offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from harvestgpu.providers.errors import ProviderError
from harvestgpu.providers.types import Offer

Fetch = Callable[[], Awaitable[list[Offer]]]


@dataclass(slots=True)
class CacheEntry:
    offers: list[Offer]
    fetched_at: float  # time.monotonic()
    error: str | None = None
    refreshing: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class SourceResult:
    source: str  # cache key: provider key id, or "mock"
    provider: str
    offers: list[Offer]
    error: str | None
    age_s: float | None


@dataclass
class OfferCache:
    ttl_s: float
    entries: dict[str, CacheEntry] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # source -> user id, for forget_user
    _inflight: dict[str, asyncio.Task[CacheEntry]] = field(default_factory=dict)

    def forget(self, key_id: str) -> None:
        """Drop every cached count for one provider key (sources are "<key id>:x<count>")."""
        for source in [s for s in self.entries if s == key_id or s.startswith(key_id + ":")]:
            self.entries.pop(source, None)

    def forget_user(self, user_id: str) -> None:
        for source in [s for s, u in self.owners.items() if u == user_id]:
            self.entries.pop(source, None)
            self.owners.pop(source, None)

    async def get(
        self, source: str, provider: str, fetch: Fetch, timeout_s: float, owner: str | None = None
    ) -> SourceResult:
        if owner:
            self.owners[source] = owner
        entry = self.entries.get(source)
        now = time.monotonic()
        if entry is not None and entry.error is None:
            age = now - entry.fetched_at
            if age >= self.ttl_s and (entry.refreshing is None or entry.refreshing.done()):
                entry.refreshing = asyncio.create_task(self._refresh(source, fetch, timeout_s))
            return SourceResult(source, provider, entry.offers, None, age)
        entry = await self._fetch_once(source, fetch, timeout_s)
        return SourceResult(source, provider, entry.offers, entry.error, time.monotonic() - entry.fetched_at)

    async def _refresh(self, source: str, fetch: Fetch, timeout_s: float) -> None:
        with contextlib.suppress(Exception):
            await self._fetch_once(source, fetch, timeout_s)

    async def _fetch_once(self, source: str, fetch: Fetch, timeout_s: float) -> CacheEntry:
        # Concurrent callers for one source share one provider call.
        task = self._inflight.get(source)
        if task is None:
            task = asyncio.create_task(self._do_fetch(source, fetch, timeout_s))
            self._inflight[source] = task
            task.add_done_callback(lambda _t: self._inflight.pop(source, None))
        return await asyncio.shield(task)

    async def _do_fetch(self, source: str, fetch: Fetch, timeout_s: float) -> CacheEntry:
        try:
            offers = await asyncio.wait_for(fetch(), timeout=timeout_s)
            entry = CacheEntry(offers=offers, fetched_at=time.monotonic())
        except TimeoutError:
            entry = CacheEntry(
                offers=[], fetched_at=time.monotonic(), error=f"timed out after {timeout_s:g}s"
            )
        except ProviderError as exc:
            entry = CacheEntry(offers=[], fetched_at=time.monotonic(), error=exc.message)
        old = self.entries.get(source)
        if entry.error is not None and old is not None and old.error is None:
            # Keep serving the last good offers through a passing failure; they age visibly.
            old.refreshing = None
            return old
        self.entries[source] = entry
        return entry
