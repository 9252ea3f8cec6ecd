"""Starting the background loops, in the API process or in `harvestgpu worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from harvestgpu.server.context import AppContext
from harvestgpu.server.workers.engine import JobEngine
from harvestgpu.server.workers.orphans import sweep_once
from harvestgpu.server.workers.webhooks import WebhookWorker

log = logging.getLogger("harvestgpu.workers")


async def orphan_loop(ctx: AppContext, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=ctx.settings.orphan_sweep_interval_s)
        if stopping.is_set():
            return
        try:
            await sweep_once(ctx)
        except Exception:
            log.exception("orphan sweep failed")


def start_workers(ctx: AppContext, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
    engine = JobEngine(ctx)
    return [
        asyncio.create_task(engine.run_forever(stopping), name="job-engine"),
        asyncio.create_task(orphan_loop(ctx, stopping), name="orphan-sweep"),
        asyncio.create_task(WebhookWorker(ctx).run_forever(stopping), name="webhook-delivery"),
    ]
