"""The job engine: drives each job row through launch -> boot -> monitor -> terminate -> done
(and boot -> abandon -> launch when an instance does not start).

Dispatcher: claims due rows (lease) while it has free slots, runs one step per claimed job as
its own task, and wakes up early when the API signals new work. ``run_once()`` runs one round
and waits for it, for tests that drive the engine step by step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.workers import lease
from harvestgpu.server.workers.steps import JobSteps

log = logging.getLogger("harvestgpu.engine")


class JobEngine:
    def __init__(self, ctx: AppContext, owner: str | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.steps = JobSteps(ctx)
        self._tasks: set[asyncio.Task[None]] = set()

    async def run_once(self) -> int:
        """Claim every due job (up to the concurrency limit), step each once, wait for all."""
        s = self.ctx.settings
        rows = await lease.claim_due(self.ctx.db, self.owner, s.worker_concurrency, s.lease_seconds)
        await asyncio.gather(*(self._step(row) for row in rows))
        return len(rows)

    async def run_forever(self, stopping: asyncio.Event) -> None:
        s = self.ctx.settings
        wakeup = self.ctx.engine_wakeup
        while not stopping.is_set():
            wakeup.clear()
            free = s.worker_concurrency - len(self._tasks)
            claimed = 0
            try:
                rows = await lease.claim_due(self.ctx.db, self.owner, free, s.lease_seconds)
                claimed = len(rows)
                for row in rows:
                    task = asyncio.create_task(self._step(row))
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except Exception:
                log.exception("claiming due jobs failed; retrying")
            if claimed and claimed == free:
                continue  # more may be due right now
            delay = await self._idle_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(wakeup, stopping), timeout=delay)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.ctx.engine_wakeup.set()  # a slot is free

    async def _idle_delay(self) -> float:
        s = self.ctx.settings
        try:
            nxt = await self.ctx.db.fetch_one(
                select(func.min(orm.jobs.c.next_run_at).label("due")).where(orm.jobs.c.phase != "done")
            )
        except Exception:
            return s.monitor_interval_s
        when: datetime | None = nxt["due"] if nxt is not None else None
        if when is None:
            return s.launch_interval_s
        delta = (when - lease._now()).total_seconds()
        return float(min(max(delta, 0.02), s.launch_interval_s))

    async def _step(self, row: Mapping[Any, Any]) -> None:
        keeper = asyncio.create_task(self._keep_lease(row))
        try:
            await self.steps.run(row)
        except Exception:
            # A bug in one job's step must not stop the engine; the lease expires and the job
            # is retried later.
            self.ctx.metrics.engine_step_errors.inc()
            log.exception("step failed for job %s", row["id"])
        finally:
            keeper.cancel()

    async def _keep_lease(self, row: Mapping[Any, Any]) -> None:
        """Renew the lease while the step runs, so a slow cloud (several calls of up to the
        provider timeout each) never lets a second worker start the same launch or delete.
        A worker that dies stops renewing, and its jobs pass on when the lease runs out."""
        lease_s = self.ctx.settings.lease_seconds
        while True:
            await asyncio.sleep(lease_s / 3)
            try:
                if not await lease.renew(self.ctx.db, row["id"], row["lease_token"], lease_s):
                    return  # the step released it, or lost it
            except Exception:
                log.exception("renewing the lease of job %s failed", row["id"])


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
