"""Claiming job rows with a lease, and writing results guarded by the lease token.

A worker claims due rows (owner, random token, expiry), calls providers with no transaction
open, then applies what it learned in one short transaction that only touches the row if it
still holds the token (zero rows = another worker took over after the lease expired).
On PostgreSQL the claim uses FOR UPDATE SKIP LOCKED so workers never queue on each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server import orm
from harvestgpu.server.db import Database
from harvestgpu.server.services import job_events

J = orm.jobs.c
# What the engine may still record about a job that the user stopped (or that ended through
# the agent) while the engine was busy with it: where it runs, so it can be terminated.
PLACEMENT_FIELDS = frozenset(
    {
        "instance_id",
        "provider",
        "provider_key_id",
        "region",
        "gpu_type",
        "cost_per_hour",
        "attempts",
        "next_candidate",
        "launch_inflight",
        "retries",
        "log_cursor",
        "log_count",
        "logs_available",
        "terminated_at",
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


async def claim_due(db: Database, owner: str, limit: int, lease_s: float) -> list[Mapping[Any, Any]]:
    if limit <= 0:
        return []
    now = _now()
    token = secrets.token_hex(8)
    async with db.write() as conn:
        q = (
            select(J.id)
            .where(
                J.phase != "done",
                J.next_run_at <= now,
                or_(J.lease_expires_at.is_(None), J.lease_expires_at < now),
            )
            .order_by(J.next_run_at)
            .limit(limit)
        )
        if not db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        ids = [r[0] for r in (await conn.execute(q)).all()]
        if not ids:
            return []
        await conn.execute(
            update(orm.jobs)
            .where(J.id.in_(ids), or_(J.lease_expires_at.is_(None), J.lease_expires_at < now))
            .values(lease_owner=owner, lease_token=token, lease_expires_at=now + timedelta(seconds=lease_s))
        )
        rows = (await conn.execute(select(orm.jobs).where(J.id.in_(ids), J.lease_token == token))).all()
    return [r._mapping for r in rows]


async def apply(
    db: Database,
    job_id: str,
    token: str,
    values: dict[str, Any],
    *,
    release: bool = True,
    log_lines: Sequence[str] = (),
) -> bool:
    """Write ``values`` if we still hold the lease; False when another worker took the job.

    If the job was stopped (or ended through the agent) meanwhile, the user-visible outcome
    stays as it is and only placement fields are kept, with the job sent to terminate.
    """
    now = _now()
    async with db.write() as conn:
        q = select(J.status, J.stop_requested, J.phase, J.log_count).where(
            J.id == job_id, J.lease_token == token
        )
        if not db.is_sqlite:
            q = q.with_for_update()
        cur = (await conn.execute(q)).first()
        if cur is None:
            return False
        if cur.stop_requested or cur.status in TERMINAL_STATUSES:
            phase, next_run = values.get("phase"), values.get("next_run_at", now)
            values = {k: v for k, v in values.items() if k in PLACEMENT_FIELDS}
            if phase in ("terminate", "done"):
                values.update(phase=phase, next_run_at=next_run)
            else:
                values.update(phase="terminate", next_run_at=now)
        if log_lines:
            start = cur.log_count
            await conn.execute(
                orm.job_logs.insert(),
                [
                    {"job_id": job_id, "seq": start + i, "line": line[:10_000]}
                    for i, line in enumerate(log_lines)
                ],
            )
            values["log_count"] = start + len(log_lines)
        values["updated_at"] = now
        if release:
            values.update(lease_owner=None, lease_token=None, lease_expires_at=None)
        await conn.execute(update(orm.jobs).where(J.id == job_id, J.lease_token == token).values(**values))
        new_status = values.get("status")
        if new_status is not None and new_status != cur.status:
            await job_events.on_status_change(conn, job_id, cur.status)
    return True


async def renew(db: Database, job_id: str, token: str, lease_s: float) -> bool:
    """Push our lease's expiry out while a step is still working; False once it is not ours."""
    async with db.write() as conn:
        result = await conn.execute(
            update(orm.jobs)
            .where(J.id == job_id, J.lease_token == token)
            .values(lease_expires_at=_now() + timedelta(seconds=lease_s))
        )
    return bool(result.rowcount)
