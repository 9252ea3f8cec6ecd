"""Prometheus metrics: what this process did (counters) and what the shared database holds (gauges).

Counters and histograms are per process, as Prometheus expects: each API server and each
`harvestgpu worker` is its own scrape target. The gauges read the shared database at scrape
time, so any one target reports the whole deployment's backlog. No label ever carries a user,
a job id or a key: only route templates, providers, phases and outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import func, select
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harvestgpu.server import orm
from harvestgpu.server.db import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0)
# Every engine phase but "done" (listed, so that the phase index serves the gauges' queries).
_ACTIVE_PHASES = ("launch", "boot", "monitor", "abandon", "terminate")
# Gauges read the database at most this often, however often Prometheus scrapes.
_DB_GAUGE_TTL_S = 2.0


class Metrics:
    """One registry per AppContext, so test apps in one process never share series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.http_requests = Counter(
            "harvestgpu_http_requests",
            "API and dashboard requests answered, by route template and status code",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "harvestgpu_http_request_duration_seconds",
            "Time to answer an API or dashboard request (streams: until the headers)",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_requests = Counter(
            "harvestgpu_provider_http_requests",
            "Calls to cloud provider APIs, by HTTP status (or timeout / connect_error)",
            ["provider", "method", "status"],
            registry=r,
        )
        self.provider_duration = Histogram(
            "harvestgpu_provider_http_request_duration_seconds",
            "Time for a cloud provider API to answer (until its headers)",
            ["provider"],
            buckets=_PROVIDER_BUCKETS,
            registry=r,
        )
        self.launch_attempts = Counter(
            "harvestgpu_launch_attempts",
            "Launch attempts on an offer, by provider and outcome (launched, no_capacity, ...)",
            ["provider", "outcome"],
            registry=r,
        )
        self.boot_failures = Counter(
            "harvestgpu_boot_failures",
            "Launched instances abandoned before running (boot_timeout, boot_failed), by provider",
            ["provider", "outcome"],
            registry=r,
        )
        self.engine_step_errors = Counter(
            "harvestgpu_engine_step_errors",
            "Job steps that raised unexpectedly (the job is retried when its lease expires)",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "harvestgpu_webhook_delivery_attempts",
            "Webhook POSTs, by result: delivered, retry (will be tried again) or failed (gave up)",
            ["result"],
            registry=r,
        )
        self.active_jobs = Gauge(
            "harvestgpu_active_jobs",
            "Jobs the engine still works on, by status and engine phase (all processes)",
            ["status", "phase"],
            registry=r,
        )
        self.due_jobs = Gauge(
            "harvestgpu_engine_due_jobs",
            "Jobs due for a step that no worker holds (all processes)",
            registry=r,
        )
        self.engine_lag = Gauge(
            "harvestgpu_engine_lag_seconds",
            "How long the longest-waiting due job has waited; grows when workers fall behind",
            registry=r,
        )
        self.webhook_backlog = Gauge(
            "harvestgpu_webhook_pending_deliveries",
            "Webhook deliveries not yet delivered or given up (all processes)",
            registry=r,
        )
        self.webhook_lag = Gauge(
            "harvestgpu_webhook_lag_seconds",
            "How long the oldest due webhook delivery has waited past its due time",
            registry=r,
        )
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._db_read_at = 0.0

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._http_children.get(key)
        if children is None:  # labels() takes a lock and builds a tuple; cache the children
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(method, route),
            )
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_provider(self, provider: str, method: str, status: str, seconds: float) -> None:
        self.provider_requests.labels(provider, method, status).inc()
        self.provider_duration.labels(provider).observe(seconds)

    async def render(self, db: Database) -> bytes:
        if time.monotonic() - self._db_read_at >= _DB_GAUGE_TTL_S:
            await self._read_database_gauges(db)
            self._db_read_at = time.monotonic()
        return generate_latest(self.registry)

    async def _read_database_gauges(self, db: Database) -> None:
        J, D = orm.jobs.c, orm.webhook_deliveries.c
        now = datetime.now(UTC)
        async with db.read() as conn:
            by_state = (
                await conn.execute(
                    select(J.status, J.phase, func.count())
                    .where(J.phase.in_(_ACTIVE_PHASES))
                    .group_by(J.status, J.phase)
                )
            ).all()
            due = (
                await conn.execute(
                    select(func.count(), func.min(J.next_run_at)).where(
                        J.phase.in_(_ACTIVE_PHASES),
                        J.next_run_at <= now,
                        (J.lease_expires_at.is_(None)) | (J.lease_expires_at < now),
                    )
                )
            ).one()
            pending = (await conn.execute(select(func.count()).where(D.status == "pending"))).scalar_one()
            oldest_due_hook = (
                await conn.execute(
                    select(func.min(D.next_attempt_at)).where(D.status == "pending", D.next_attempt_at <= now)
                )
            ).scalar_one()
        self.active_jobs.clear()
        for status, phase, count in by_state:
            self.active_jobs.labels(status, phase).set(count)
        self.due_jobs.set(due[0])
        self.engine_lag.set(_seconds_since(due[1], now))
        self.webhook_backlog.set(pending)
        self.webhook_lag.set(_seconds_since(oldest_due_hook, now))


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (never the raw path).

    Outermost middleware, so 413s and 429s are counted too. Requests that matched no route
    are counted under "unmatched" so that scanners cannot create series.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.metrics.observe_http(
                    scope["method"], _route_label(scope), status, time.perf_counter() - start
                )
            await send(message)

        await self.app(scope, receive, send_with_status)


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    # A Mount (static files) sets no route but extends root_path with its prefix.
    return str(scope.get("root_path") or "unmatched")


class LabelledRoute(Route):
    """A plain Starlette route that records itself in the scope as FastAPI's own routes do,
    so that its requests are labelled with its template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class MeteredTransport(httpx.AsyncBaseTransport):
    """Wraps the transport of the client that talks to clouds: every call is counted and timed.

    Only calls to a configured provider base URL are recorded; the label is the provider slug,
    never the path (it holds instance ids) or anything from the request's headers.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: Metrics, bases: Mapping[str, str]) -> None:
        self.inner = inner
        self.metrics = metrics
        self.bases = {base.rstrip("/"): slug for base, slug in bases.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        provider = provider_of_url(self.bases, str(request.url))
        if provider is None:
            return await self.inner.handle_async_request(request)
        start = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TimeoutException:
            self.metrics.observe_provider(provider, request.method, "timeout", time.perf_counter() - start)
            raise
        except httpx.TransportError:
            self.metrics.observe_provider(
                provider, request.method, "connect_error", time.perf_counter() - start
            )
            raise
        self.metrics.observe_provider(
            provider, request.method, str(response.status_code), time.perf_counter() - start
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def provider_of_url(bases: Mapping[str, str], url: str) -> str | None:
    """The provider whose configured base URL ``url`` starts with, if any."""
    for base, slug in bases.items():
        if url.startswith(base) and url[len(base) : len(base) + 1] in ("", "/", "?"):
            return slug
    return None
