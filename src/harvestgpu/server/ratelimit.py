"""Plan rate limits (SPEC "Rate Limits") and per-address limits on login and register.

Built on the `limits` library with fixed windows. Counters live in this process by default and
in Redis when HARVESTGPU_REDIS_URL is set, so every API process shares one count. In memory the
library's synchronous storage is used: its async one sweeps every key on every hit, which made a
request with 10,000 active users ~1 ms slower, while the synchronous one costs ~10 µs and sweeps
from a timer thread. With Redis a request costs one round trip (the end of each window is
remembered instead of read back every time). If Redis is unreachable requests are let through
(logged): an outage of the counter store must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import limits
import limits.errors
from fastapi import Request
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.storage import MemoryStorage
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harvestgpu.server.errors import TooManyRequests
from harvestgpu.server.services.accounts import AuthUser
from harvestgpu.server.settings import Settings

log = logging.getLogger("harvestgpu.ratelimit")
STATE_KEY = "ratelimit_headers"
REDIS_TIMEOUT_S = 0.5
MAX_REMEMBERED_WINDOWS = 50_000


@dataclass(frozen=True, slots=True)
class PlanLimits:
    requests_per_minute: int
    jobs_per_hour: int | None  # None: unlimited


PLANS: dict[str, PlanLimits] = {
    "free": PlanLimits(60, 10),
    "payg": PlanLimits(1_000, 100),
    "enterprise": PlanLimits(10_000, None),
}
PLAN_NAMES = {"free": "Free", "payg": "Pay As You Go", "enterprise": "Enterprise"}


def plan_limits(plan: str) -> PlanLimits:
    return PLANS.get(plan, PLANS["free"])


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the current window ends

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class _Counters(Protocol):
    async def incr(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]: ...

    async def close(self) -> None: ...


class _MemoryCounters:
    def __init__(self) -> None:
        self._storage = MemoryStorage()

    async def incr(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        return self._storage.incr(key, expiry, amount), self._storage.get_expiry(key)

    async def close(self) -> None:
        self._storage.timer.cancel()


class _RedisCounters:
    def __init__(self, url: str, prefix: str) -> None:
        from redis.asyncio import ConnectionPool

        self._pool = ConnectionPool.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._window_ends: dict[str, float] = {}
        pool: dict[str, Any] = {"connection_pool": self._pool}  # typed as scalars in the library
        self._storage = RedisStorage(
            "async+" + url, implementation="redispy", key_prefix=prefix, wrap_exceptions=True, **pool
        )

    async def incr(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        count = await self._storage.incr(key, expiry, amount)
        now = time.time()
        if count == amount:  # this hit opened the window
            self._remember(key, now + expiry, now)
        window_end = self._window_ends.get(key, 0.0)
        if window_end <= now:
            # Another process opened it: ask once per window, not on every request.
            window_end = await self._storage.get_expiry(key)
            self._remember(key, window_end, now)
        return count, window_end

    def _remember(self, key: str, window_end: float, now: float) -> None:
        if len(self._window_ends) >= MAX_REMEMBERED_WINDOWS:
            self._window_ends = {k: end for k, end in self._window_ends.items() if end > now}
        self._window_ends[key] = window_end

    async def close(self) -> None:
        await self._pool.disconnect()


class RateLimiter:
    """Fixed-window counters: ``hit`` adds one and says whether the window still had room."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._counters: _Counters = (
            _RedisCounters(settings.redis_url, settings.redis_key_prefix)
            if settings.redis_url
            else _MemoryCounters()
        )
        self._address_limits = {
            "login": limits.parse_many(settings.login_rate_limit),
            "register": limits.parse_many(settings.register_rate_limit),
        }
        self._last_storage_warning = 0.0

    async def hit(self, item: RateLimitItem, *identity: str, amount: int = 1) -> Verdict | None:
        """None when the counter store failed (the request is let through)."""
        try:
            count, reset_at = await self._counters.incr(item.key_for(*identity), item.get_expiry(), amount)
        except (limits.errors.StorageError, OSError) as exc:
            self._storage_failed(exc)
            return None
        reset_after = max(1, math.ceil(reset_at - time.time()))
        return Verdict(count <= item.amount, item.amount, max(0, item.amount - count), reset_after)

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_storage_warning > 60:
            self._last_storage_warning = now
            log.warning("rate-limit store unavailable, requests are not limited: %s", type(exc).__name__)

    async def check_request(self, user: AuthUser) -> Verdict | None:
        """Requests per minute for the user's plan; raises TooManyRequests over the limit."""
        if not self.enabled:
            return None
        per_minute = plan_limits(user.plan).requests_per_minute
        verdict = await self.hit(limits.RateLimitItemPerMinute(per_minute, namespace="req"), user.id)
        if verdict is not None and not verdict.allowed:
            raise TooManyRequests(
                f"Rate limit exceeded: {per_minute:,} requests per minute on the "
                f"{PLAN_NAMES.get(user.plan, user.plan)} plan; retry in {verdict.reset_after} s",
                headers=verdict.headers(),
            )
        return verdict

    def _jobs_item(self, user: AuthUser) -> RateLimitItem | None:
        per_hour = plan_limits(user.plan).jobs_per_hour
        if not self.enabled or per_hour is None:
            return None
        return limits.RateLimitItemPerHour(per_hour, namespace="jobs")

    async def take_job_slot(self, user: AuthUser) -> bool:
        """One job of the plan's jobs per hour; raises TooManyRequests when none is left.
        True when a slot was taken (give it back with ``return_job_slot`` if no job came of it)."""
        item = self._jobs_item(user)
        if item is None:
            return False
        verdict = await self.hit(item, user.id)
        if verdict is None:
            return False
        if not verdict.allowed:
            await self.hit(item, user.id, amount=-1)  # a refused submit does not use up the hour
            raise TooManyRequests(
                f"Job limit reached: {item.amount:,} jobs per hour on the "
                f"{PLAN_NAMES.get(user.plan, user.plan)} plan; retry in {verdict.reset_after} s",
                headers=verdict.headers(),
            )
        return True

    async def return_job_slot(self, user: AuthUser) -> None:
        item = self._jobs_item(user)
        if item is not None:
            await self.hit(item, user.id, amount=-1)

    async def check_address(self, action: str, address: str) -> None:
        """Login/register attempts per client address; raises TooManyRequests over any limit."""
        if not self.enabled:
            return
        for item in self._address_limits[action]:
            verdict = await self.hit(item, action, address)
            if verdict is not None and not verdict.allowed:
                raise TooManyRequests(
                    f"Too many {action} attempts from this address; retry in {verdict.reset_after} s",
                    headers=verdict.headers(),
                )

    async def close(self) -> None:
        await self._counters.close()


def limiter_of(request: Request) -> RateLimiter:
    limiter: Any = request.app.state.rate_limiter
    assert isinstance(limiter, RateLimiter)
    return limiter


async def limit_request(request: Request, user: AuthUser) -> None:
    """For every authenticated request: count it, and answer with RateLimit-* headers."""
    verdict = await limiter_of(request).check_request(user)
    if verdict is not None:
        setattr(request.state, STATE_KEY, verdict.headers())


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimitHeadersMiddleware:
    """Adds the RateLimit-* headers that ``limit_request`` left in the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: dict[str, str] | None = state.get(STATE_KEY)
                if headers:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    extra = [
                        (name.lower().encode(), value.encode())
                        for name, value in headers.items()
                        if name.lower().encode() not in present
                    ]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
