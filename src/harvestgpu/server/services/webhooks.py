"""Webhooks: registration, the outbox of events to deliver, signatures, delivery records.

Events are written to ``webhook_deliveries`` (one row per event and webhook) in the transaction
that changed the job, so none is lost; workers/webhooks.py delivers them. Every attempt of a
delivery sends the same event id and body; receivers verify
``HMAC-SHA256(secret, f"{timestamp}.{body}")`` (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import BadRequest, Conflict, NotFound
from harvestgpu.server.security import new_id
from harvestgpu.server.services import webhook_targets
from harvestgpu.server.services.accounts import AuthUser

JOB_EVENTS = ("job.running", "job.completed", "job.failed", "job.stopped")
EVENTS = (*JOB_EVENTS, "budget.exceeded")
MAX_WEBHOOKS_PER_USER = 20
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
EVENT_HEADER = "X-HarvestGPU-Event"
EVENT_ID_HEADER = "X-HarvestGPU-Event-Id"
DELIVERY_HEADER = "X-HarvestGPU-Delivery"
TIMESTAMP_HEADER = "X-HarvestGPU-Timestamp"
SIGNATURE_HEADER = "X-HarvestGPU-Signature"

W = orm.webhooks.c
D = orm.webhook_deliveries.c


def _now() -> datetime:
    return datetime.now(UTC)


def timestamp_text(at: datetime) -> str:
    """SPEC's payload format: 2026-04-14T12:00:00Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_events(value: str | list[str] | None) -> list[str]:
    """``"job.completed,job.failed"`` or a list; None means every event."""
    if value is None:
        return list(EVENTS)
    names = value.split(",") if isinstance(value, str) else value
    events: list[str] = []
    for raw in names:
        name = raw.strip()
        if name not in EVENTS:
            known = ", ".join(EVENTS)
            raise BadRequest(f"Field 'events': unknown event '{name[:40]}'; known events: {known}")
        if name not in events:
            events.append(name)
    if not events:
        raise BadRequest(f"Field 'events': name at least one of {', '.join(EVENTS)}")
    return events


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def webhook_out(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": list(row["events"]),
        "created_at": row["created_at"],
    }


async def create(ctx: AppContext, user: AuthUser, url: str, events: str | list[str] | None) -> dict[str, Any]:
    names = parse_events(events)
    try:
        checked = await webhook_targets.check_new(url, ctx.settings.webhook_allow_private)
    except webhook_targets.TargetRefused as exc:
        raise BadRequest(f"Field 'url': {exc.message}") from None
    webhook_id = new_id()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    async with ctx.db.write() as conn:
        count = (
            await conn.execute(select(func.count()).select_from(orm.webhooks).where(W.user_id == user.id))
        ).scalar_one()
        if count >= MAX_WEBHOOKS_PER_USER:
            raise Conflict(f"At most {MAX_WEBHOOKS_PER_USER} webhooks per account; delete one first")
        await conn.execute(
            orm.webhooks.insert().values(
                id=webhook_id,
                user_id=user.id,
                url=str(checked),
                events=names,
                secret_ciphertext=ctx.master.encrypt(secret, context=webhook_id),
                created_at=now,
            )
        )
    return {"id": webhook_id, "url": str(checked), "events": names, "created_at": now, "secret": secret}


async def list_webhooks(ctx: AppContext, user: AuthUser) -> list[dict[str, Any]]:
    rows = await ctx.db.fetch_all(
        select(W.id, W.url, W.events, W.created_at).where(W.user_id == user.id).order_by(W.created_at, W.id)
    )
    return [webhook_out(r) for r in rows]


async def _owned(conn: Any, user: AuthUser, webhook_id: str) -> None:
    found = (await conn.execute(select(W.id).where(W.id == webhook_id, W.user_id == user.id))).first()
    if found is None:
        raise NotFound(f"Webhook '{webhook_id[:64]}' not found")


async def delete(ctx: AppContext, user: AuthUser, webhook_id: str) -> dict[str, Any]:
    """Deletes the webhook and its delivery records; pending deliveries are not sent."""
    async with ctx.db.write() as conn:
        await _owned(conn, user, webhook_id)
        await conn.execute(orm.webhook_deliveries.delete().where(D.webhook_id == webhook_id))
        await conn.execute(orm.webhooks.delete().where(W.id == webhook_id))
    return {"id": webhook_id, "deleted": True}


def delivery_out(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "event": row["event"],
        "status": row["status"],
        "attempts": row["attempts"],
        "response_status": row["response_status"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "last_attempt_at": row["last_attempt_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
        "delivered_at": row["delivered_at"],
        "payload": json.loads(row["payload"]),
    }


async def list_deliveries(
    ctx: AppContext, user: AuthUser, webhook_id: str, limit: int, offset: int
) -> dict[str, Any]:
    async with ctx.db.read() as conn:
        await _owned(conn, user, webhook_id)
        total = (
            await conn.execute(
                select(func.count()).select_from(orm.webhook_deliveries).where(D.webhook_id == webhook_id)
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                select(orm.webhook_deliveries)
                .where(D.webhook_id == webhook_id)
                .order_by(D.created_at.desc(), D.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return {
        "deliveries": [delivery_out(r._mapping) for r in rows],
        "total": int(total),
        "limit": limit,
        "offset": offset,
    }


async def resend(ctx: AppContext, user: AuthUser, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """Queue the same event (same event id and body) again as a new delivery."""
    now = _now()
    async with ctx.db.write() as conn:
        await _owned(conn, user, webhook_id)
        original = (
            await conn.execute(
                select(D.event_id, D.event, D.payload).where(D.id == delivery_id, D.webhook_id == webhook_id)
            )
        ).first()
        if original is None:
            raise NotFound(f"Delivery '{delivery_id[:64]}' not found")
        pending = select(D.id).where(
            D.webhook_id == webhook_id, D.event_id == original.event_id, D.status == "pending"
        )
        if (await conn.execute(pending.limit(1))).first() is not None:
            raise Conflict("This event is still being delivered; resend it once that delivery has finished")
        row = _delivery_row(webhook_id, original.event_id, original.event, original.payload, now)
        await conn.execute(orm.webhook_deliveries.insert().values(**row))
    return delivery_out(row)


def _delivery_row(webhook_id: str, event_id: str, event: str, payload: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "webhook_id": webhook_id,
        "event_id": event_id,
        "event": event,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_attempt_at": None,
        "response_status": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def job_payload(event: str, job: Mapping[Any, Any], at: datetime) -> dict[str, Any]:
    """Exactly SPEC's payload: event, job_id, gpu_type, provider, total_cost, status, timestamp."""
    return {
        "event": event,
        "job_id": job["id"],
        "gpu_type": job["gpu_type"] or job["gpu"],
        "provider": job["provider"],
        "total_cost": round(float(job["total_cost"] or 0.0), 6),
        "status": job["status"],
        "timestamp": timestamp_text(at),
    }


def enqueue(conn: Connection, user_id: str, payload: dict[str, Any], now: datetime) -> int:
    """Outbox rows for every webhook of the user subscribed to ``payload["event"]`` (sync: runs
    inside the transaction that produced the event). Returns how many were queued."""
    event = payload["event"]
    hooks = conn.execute(select(W.id, W.events).where(W.user_id == user_id)).all()
    targets = [h.id for h in hooks if event in (h.events or [])]
    if not targets:
        return 0
    body = json.dumps(payload, separators=(",", ":"))
    event_id = "evt_" + new_id()
    conn.execute(
        orm.webhook_deliveries.insert(),
        [_delivery_row(webhook_id, event_id, event, body, now) for webhook_id in targets],
    )
    return len(targets)
