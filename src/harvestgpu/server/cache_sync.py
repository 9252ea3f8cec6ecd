"""Per-process caches that other processes must be able to invalidate, and the Redis channel
that does it.

Authentication is the hot path, so each process keeps identities for ``AUTH_CACHE_TTL_S``. A
revoked key or a changed plan must not linger on the other API processes for that long. Offers
are cached per provider key for ``HARVESTGPU_PRICE_TTL_S``; when a worker process launches on an
account (on a marketplace that rents the very machine an offer described), the API processes'
copies are stale. With ``HARVESTGPU_REDIS_URL`` set (as multi-process deployments already need
for rate limits), the process that made the change publishes it and every process drops the
entry at once. Messages missed while Redis was unreachable are covered by clearing the identity
cache on each reconnect; stale offers only ever cost a failed-over launch, and age out anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harvestgpu.server.services.accounts import AuthUser
    from harvestgpu.server.services.offers import OfferCache

log = logging.getLogger("harvestgpu.cache")
AUTH_CACHE_TTL_S = 30.0
_MAX_ENTRIES = 50_000
_RECONNECT_MAX_S = 30.0


class AuthCache:
    """token hash -> user, briefly, so the hot path skips the database."""

    def __init__(self, ttl_s: float = AUTH_CACHE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, AuthUser]] = {}

    def get(self, key: str) -> AuthUser | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, user: AuthUser) -> None:
        if len(self._entries) > _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_s, user)

    def drop_user(self, user_id: str) -> None:
        for k in [k for k, (_, u) in self._entries.items() if u.id == user_id]:
            del self._entries[k]

    def clear(self) -> None:
        self._entries.clear()


class CacheSync:
    """Publishes "forget this" to every process, and applies what the others publish."""

    def __init__(
        self, auth_cache: AuthCache, offer_cache: OfferCache | None, redis_url: str, key_prefix: str
    ) -> None:
        self.auth_cache = auth_cache
        self.offer_cache = offer_cache
        self.enabled = bool(redis_url)
        self.channel = f"{key_prefix}:cache:forget"
        self.ready = asyncio.Event()  # subscribed (start-up waits for it)
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)

    async def forget_user(self, user_id: str) -> None:
        """A key was revoked or the plan changed: drop the user's cached identities everywhere."""
        self._apply("user", user_id)
        await self._publish("user", user_id)

    async def forget_offers(self, key_id: str) -> None:
        """A launch on this provider key changed its inventory: drop its cached offers everywhere."""
        self._apply("offers", key_id)
        await self._publish("offers", key_id)

    def _apply(self, kind: str, ident: str) -> None:
        if kind == "user":
            self.auth_cache.drop_user(ident)
        elif kind == "offers" and self.offer_cache is not None:
            self.offer_cache.forget(ident)

    async def _publish(self, kind: str, ident: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.publish(self.channel, f"{kind}:{ident}")
        except Exception as exc:  # Redis down: other processes catch up when their entries expire
            log.warning("could not publish a cache drop (%s); other processes may lag", exc)

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until ``stopping``; reconnect with backoff, clearing the cache each time."""
        if self._redis is None:
            return
        delay = 0.5
        while not stopping.is_set():
            try:
                await self._listen(stopping)
                delay = 0.5
            except Exception as exc:
                self.ready.clear()
                log.warning("cache sync lost Redis (%s); retrying in %.0f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)

    async def _listen(self, stopping: asyncio.Event) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.auth_cache.clear()  # anything published while we were not listening is lost
            self.ready.set()
            while not stopping.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    kind, _, ident = (data.decode() if isinstance(data, bytes) else str(data)).partition(":")
                    self._apply(kind, ident)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
