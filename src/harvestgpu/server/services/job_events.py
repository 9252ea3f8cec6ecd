"""Called inside every transaction that changes a job's status, so what depends on the change
(usage records, webhook outbox events) commits atomically with it: none is lost or doubled.

Callers announce the change before they write the job's new values (end time, total cost), so
the records are written as that transaction commits (SQLAlchemy's ``commit`` event, still
inside the transaction), from the job row exactly as the transaction leaves it: a usage record
always carries the job's own ``ended_at`` and ``total_cost``. A rolled-back transaction writes
nothing.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, event, select
from sqlalchemy.ext.asyncio import AsyncConnection

from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server import orm
from harvestgpu.server.services import budgets, usage, webhooks


@dataclass(frozen=True)
class _Change:
    job_id: str
    old: str


_pending: weakref.WeakKeyDictionary[Connection, list[_Change]] = weakref.WeakKeyDictionary()


async def on_status_change(conn: AsyncConnection, job_id: str, old: str, new: str) -> None:
    """``old`` -> ``new`` for ``job_id`` is being written in ``conn``'s open transaction."""
    sync = conn.sync_connection
    assert sync is not None, "on_status_change needs a connection inside a transaction"
    changes = _pending.get(sync)
    if changes is None:
        changes = []
        _pending[sync] = changes
        event.listen(sync, "commit", _write_effects, once=True)
        event.listen(sync, "rollback", _forget, once=True)
    changes.append(_Change(job_id, old))


def _forget(conn: Connection) -> None:
    _pending.pop(conn, None)


def _write_effects(conn: Connection) -> None:
    for change in _pending.pop(conn, []):
        _effects_of(conn, change)


def _effects_of(conn: Connection, change: _Change) -> None:
    row = conn.execute(select(orm.jobs).where(orm.jobs.c.id == change.job_id)).first()
    if row is None:
        return
    job = row._mapping
    new = job["status"]
    if new == change.old:
        return
    now = datetime.now(UTC)
    user_id = job["user_id"]
    if new == "running":
        webhooks.enqueue(
            conn, user_id, webhooks.job_payload("job.running", job, job["started_at"] or now), now
        )
        return
    if new not in TERMINAL_STATUSES or change.old in TERMINAL_STATUSES:
        return
    usage.record_job_end(conn, job, now)
    webhooks.enqueue(conn, user_id, webhooks.job_payload(f"job.{new}", job, job["ended_at"] or now), now)
    for payload in budgets.exceeded_events(conn, job, now):
        webhooks.enqueue(conn, user_id, payload, now)
