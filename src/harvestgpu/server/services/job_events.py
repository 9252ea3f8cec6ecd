"""Called inside every transaction that changes a job's status, right after the job's new
values are written, so what depends on the change (usage records, webhook outbox events,
budget events) commits atomically with it: none is lost or doubled, and a rolled-back
transaction writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncConnection

from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server import orm
from harvestgpu.server.services import budgets, usage, webhooks


async def on_status_change(conn: AsyncConnection, job_id: str, old: str) -> None:
    """The job's status moved from ``old`` to what its row now says, in ``conn``'s transaction."""
    await conn.run_sync(_effects_of, job_id, old)


def _effects_of(conn: Connection, job_id: str, old: str) -> None:
    row = conn.execute(select(orm.jobs).where(orm.jobs.c.id == job_id)).first()
    if row is None:
        return
    job = row._mapping
    new = job["status"]
    if new == old:
        return
    now = datetime.now(UTC)
    user_id = job["user_id"]
    if new == "running":
        webhooks.enqueue(
            conn, user_id, webhooks.job_payload("job.running", job, job["started_at"] or now), now
        )
        return
    if new not in TERMINAL_STATUSES or old in TERMINAL_STATUSES:
        return
    usage.record_job_end(conn, job, now)
    webhooks.enqueue(conn, user_id, webhooks.job_payload(f"job.{new}", job, job["ended_at"] or now), now)
    for payload in budgets.exceeded_events(conn, job, now):
        webhooks.enqueue(conn, user_id, payload, now)
