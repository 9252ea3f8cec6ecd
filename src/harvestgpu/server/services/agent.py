"""What a VM's boot script reports: log lines and the exit code, with a per-job token."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import NotFound, Unauthorized
from harvestgpu.server.services import job_events
from harvestgpu.server.services.job_views import billed_hours

J = orm.jobs.c


def check_token(ctx: AppContext, job_id: str, token: str) -> None:
    if not token or not hmac.compare_digest(ctx.master.agent_token(job_id), token):
        raise Unauthorized("Invalid agent token")


async def append_logs(ctx: AppContext, job_id: str, lines: list[str]) -> dict[str, Any]:
    async with ctx.db.write() as conn:
        q = select(J.log_count).where(J.id == job_id)
        if not ctx.db.is_sqlite:
            q = q.with_for_update()
        count = (await conn.execute(q)).scalar_one_or_none()
        if count is None:
            raise NotFound("Job not found")
        if lines:
            await conn.execute(
                orm.job_logs.insert(),
                [{"job_id": job_id, "seq": count + i, "line": line[:10_000]} for i, line in enumerate(lines)],
            )
            await conn.execute(update(orm.jobs).where(J.id == job_id).values(log_count=count + len(lines)))
    return {"accepted": len(lines)}


async def report_exit(ctx: AppContext, job_id: str, exit_code: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with ctx.db.write() as conn:
        q = select(J.status, J.cost_per_hour, J.started_at).where(J.id == job_id)
        if not ctx.db.is_sqlite:
            q = q.with_for_update()
        job = (await conn.execute(q)).first()
        if job is None:
            raise NotFound("Job not found")
        if job.status not in TERMINAL_STATUSES:
            new_status = "completed" if exit_code == 0 else "failed"
            await conn.execute(
                update(orm.jobs)
                .where(J.id == job_id)
                .values(
                    status=new_status,
                    exit_code=exit_code,
                    error=None if exit_code == 0 else f"Command exited with code {exit_code}",
                    ended_at=now,
                    total_cost=round((job.cost_per_hour or 0.0) * billed_hours(job.started_at, now), 6),
                    phase="terminate",
                    next_run_at=now,
                    updated_at=now,
                )
            )
            await job_events.on_status_change(conn, job_id, job.status)
    ctx.engine_wakeup.set()
    return {"recorded": True}
