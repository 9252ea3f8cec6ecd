"""The API-key/JWT -> user cache of one process, and how every process learns to forget a user.

Authentication is the hot path, so each process keeps identities for ``AUTH_CACHE_TTL_S``. A
revoked key or a changed plan must not linger on the other API processes for that long: with
``HARVESTGPU_REDIS_URL`` set (as multi-process deployments already need for rate limits), the
process that changed a user publishes the user id and every process drops that user at once.
While Redis is unreachable, messages may be missed, so each reconnect clears the whole cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harvestgpu.server.services.accounts import AuthUser

log = logging.getLogger("harvestgpu.auth")
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


class AuthCacheSync:
    """Publishes "forget this user" to every process, and applies what the others publish."""

    def __init__(self, cache: AuthCache, redis_url: str, key_prefix: str) -> None:
        self.cache = cache
        self.enabled = bool(redis_url)
        self.channel = f"{key_prefix}:auth:forget"
        self.ready = asyncio.Event()  # subscribed (tests and start-up wait for it)
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)

    async def forget_user(self, user_id: str) -> None:
        """Drop the user here, then tell the other processes (best effort: the TTL still bounds it)."""
        self.cache.drop_user(user_id)
        if self._redis is None:
            return
        try:
            await self._redis.publish(self.channel, user_id)
        except Exception as exc:  # Redis down: other processes catch up within the cache TTL
            log.warning("could not publish an auth-cache drop (%s); other processes may lag", exc)

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
                log.warning("auth-cache sync lost Redis (%s); retrying in %.0f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)

    async def _listen(self, stopping: asyncio.Event) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self.cache.clear()  # anything published while we were not listening is lost
            self.ready.set()
            while not stopping.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    self.cache.drop_user(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
