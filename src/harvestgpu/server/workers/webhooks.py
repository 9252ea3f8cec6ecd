"""Webhook delivery: claim due outbox rows with a lease, POST them signed, record the outcome.

The job engine's pattern: rows are claimed in a short transaction (owner, token, expiry; SKIP
LOCKED on PostgreSQL), the HTTP call happens with no transaction open, and the outcome is written
only if the lease is still ours. Any 2xx is success (redirects are not followed); anything else is
retried with exponential backoff and jitter until ``webhook_max_age_hours`` after the event, then
the delivery is marked failed. Each attempt has an overall deadline and at most
``webhook_per_endpoint`` deliveries go to one webhook at once, so a slow or dead endpoint holds
up neither the API (which never calls webhooks) nor the deliveries to other endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, or_, select, update

from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.services import webhook_targets, webhooks

log = logging.getLogger("harvestgpu.webhooks")
D = orm.webhook_deliveries.c
W = orm.webhooks.c
USER_AGENT = "HarvestGPU-Webhooks/0.1"
CLAIM_LOOKAHEAD = 4  # candidates read per free slot, so busy endpoints can be skipped


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    response_status: int | None = None
    error: str | None = None
    final: bool = False  # retrying cannot help


def retry_delay(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff (base, 2 base, 4 base, ... up to max) with jitter: half to all of it."""
    ceiling = min(max_s, base_s * 2.0 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class WebhookWorker:
    def __init__(self, ctx: AppContext, owner: str | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.ctx.settings.webhook_timeout_s),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: we connect to the address we checked
                headers={"User-Agent": USER_AGENT},
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run_once(self) -> int:
        """Claim every due delivery (up to the concurrency limit), attempt each once, wait for all."""
        rows = await self.claim(self.ctx.settings.webhook_concurrency)
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def run_forever(self, stopping: asyncio.Event) -> None:
        s = self.ctx.settings
        try:
            while not stopping.is_set():
                self._slot_freed.clear()
                free = s.webhook_concurrency - len(self._tasks)
                claimed = 0
                try:
                    for row in await self.claim(free):
                        claimed += 1
                        task = asyncio.create_task(self._deliver(row))
                        self._tasks.add(task)
                        task.add_done_callback(self._done)
                except Exception:
                    log.exception("claiming webhook deliveries failed; retrying")
                if claimed and claimed == free:
                    continue
                delay = await self._idle_delay()
                waiters = [asyncio.create_task(stopping.wait()), asyncio.create_task(self._slot_freed.wait())]
                try:
                    await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=s.webhook_timeout_s + 5)
        finally:
            await self.close()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()

    async def _idle_delay(self) -> float:
        poll = self.ctx.settings.webhook_poll_interval_s
        with contextlib.suppress(Exception):
            row = await self.ctx.db.fetch_one(
                select(func.min(D.next_attempt_at).label("due")).where(D.status == "pending")
            )
            due: datetime | None = row["due"] if row is not None else None
            if due is not None:
                return float(min(max((due - _now()).total_seconds(), 0.02), poll))
        return poll

    async def claim(self, limit: int) -> list[Mapping[Any, Any]]:
        """Lease up to ``limit`` due deliveries, at most ``webhook_per_endpoint`` per webhook."""
        if limit <= 0:
            return []
        s = self.ctx.settings
        now = _now()
        token = secrets.token_hex(8)
        lease_s = max(s.lease_seconds, 2 * s.webhook_timeout_s)  # outlasts one whole attempt
        async with self.ctx.db.write() as conn:
            q = (
                select(D.id, D.webhook_id)
                .where(
                    D.status == "pending",
                    D.next_attempt_at <= now,
                    or_(D.lease_expires_at.is_(None), D.lease_expires_at < now),
                )
                .order_by(D.next_attempt_at)
                .limit(limit * CLAIM_LOOKAHEAD)
            )
            if not self.ctx.db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            per_webhook = Counter(self._in_flight)
            ids: list[str] = []
            for candidate in (await conn.execute(q)).all():
                if len(ids) < limit and per_webhook[candidate.webhook_id] < s.webhook_per_endpoint:
                    per_webhook[candidate.webhook_id] += 1
                    ids.append(candidate.id)
            if not ids:
                return []
            await conn.execute(
                update(orm.webhook_deliveries)
                .where(D.id.in_(ids), or_(D.lease_expires_at.is_(None), D.lease_expires_at < now))
                .values(
                    lease_owner=self.owner,
                    lease_token=token,
                    lease_expires_at=now + timedelta(seconds=lease_s),
                )
            )
            rows = (
                await conn.execute(
                    select(orm.webhook_deliveries, W.url, W.secret_ciphertext)
                    .join(orm.webhooks, W.id == D.webhook_id)
                    .where(D.id.in_(ids), D.lease_token == token)
                )
            ).all()
        return [r._mapping for r in rows]

    async def _deliver(self, row: Mapping[Any, Any]) -> None:
        self._in_flight[row["webhook_id"]] += 1
        try:
            outcome = await self._attempt(row)
            result = await self._record(row, outcome)
            if result is not None:
                self.ctx.metrics.webhook_deliveries.labels(result).inc()
        except Exception:
            # The lease expires and the delivery is tried again; one bad row must not stop the loop.
            log.exception("webhook delivery %s failed unexpectedly", row["id"])
        finally:
            self._in_flight[row["webhook_id"]] -= 1
            if self._in_flight[row["webhook_id"]] <= 0:
                del self._in_flight[row["webhook_id"]]

    async def _attempt(self, row: Mapping[Any, Any]) -> Outcome:
        s = self.ctx.settings
        try:
            secret = self.ctx.master.decrypt(row["secret_ciphertext"], context=row["webhook_id"])
        except Exception:
            unreadable = "the webhook's secret cannot be decrypted with this server's key"
            return Outcome(False, error=unreadable, final=True)
        try:
            async with asyncio.timeout(s.webhook_timeout_s):
                return await self._post(row, secret)
        except TimeoutError:
            return Outcome(False, error=f"no answer within {s.webhook_timeout_s:g} s")

    async def _post(self, row: Mapping[Any, Any], secret: str) -> Outcome:
        try:
            target = await webhook_targets.pin(row["url"], self.ctx.settings.webhook_allow_private)
        except webhook_targets.TargetRefused as exc:
            return Outcome(False, error=exc.message)
        except OSError:
            return Outcome(False, error="the webhook's host did not resolve")
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            webhooks.EVENT_HEADER: row["event"],
            webhooks.EVENT_ID_HEADER: row["event_id"],
            webhooks.DELIVERY_HEADER: row["id"],
            webhooks.TIMESTAMP_HEADER: timestamp,
            webhooks.SIGNATURE_HEADER: webhooks.sign(secret, timestamp, body),
        }
        if target.host_header:
            headers["Host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            async with self._client().stream(
                "POST", target.url, content=body, headers=headers, extensions=extensions
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
        if 200 <= status < 300:
            return Outcome(True, status)
        return Outcome(False, status, f"the endpoint answered HTTP {status}")

    async def _record(self, row: Mapping[Any, Any], outcome: Outcome) -> str | None:
        """Write the attempt's result; returns it ("delivered", "retry", "failed"), or None when
        another worker took the delivery over after our lease expired."""
        s = self.ctx.settings
        now = _now()
        values: dict[str, Any] = {
            "attempts": row["attempts"] + 1,
            "last_attempt_at": now,
            "response_status": outcome.response_status,
            "last_error": outcome.error[:500] if outcome.error else None,
            "lease_owner": None,
            "lease_token": None,
            "lease_expires_at": None,
        }
        expired = now - row["created_at"] >= timedelta(hours=s.webhook_max_age_hours)
        if outcome.delivered:
            result = "delivered"
            values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        elif outcome.final or expired:
            result = "failed"
            values.update(status="failed", next_attempt_at=None)
        else:
            result = "retry"
            delay = retry_delay(row["attempts"] + 1, s.webhook_retry_base_s, s.webhook_retry_max_s)
            values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
        async with self.ctx.db.write() as conn:
            written = await conn.execute(
                update(orm.webhook_deliveries)
                .where(D.id == row["id"], D.lease_token == row["lease_token"])
                .values(**values)
            )
        return result if written.rowcount else None
