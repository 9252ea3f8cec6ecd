"""`harvestgpu server` and `harvestgpu worker` (the CLI imports this lazily)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from harvestgpu.server.settings import Settings


def _settings(data_dir: str | None = None, **overrides: object) -> Settings:
    settings = Settings()
    updates: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir:
        updates["data_dir"] = Path(data_dir)
    return settings.model_copy(update=updates) if updates else settings


def server(host: str | None, port: int | None, data_dir: str | None, no_workers: bool) -> None:
    import uvicorn

    from harvestgpu.server.app import create_app

    settings = _settings(data_dir, host=host, port=port, run_workers=False if no_workers else None)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


def worker(data_dir: str | None = None, metrics_port: int | None = None) -> None:
    settings = _settings(data_dir, worker_metrics_port=metrics_port)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    from harvestgpu.server.context import AppContext
    from harvestgpu.server.db import run_migrations
    from harvestgpu.server.workers.runner import start_workers

    await asyncio.to_thread(run_migrations, settings.effective_database_url)
    ctx = AppContext.build(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    tasks = start_workers(ctx, stopping)
    if settings.worker_metrics_port:
        from harvestgpu.server.metrics_server import serve_worker_metrics

        tasks.append(asyncio.create_task(serve_worker_metrics(ctx, settings.worker_metrics_port, stopping)))
    logging.getLogger("harvestgpu").info(
        "worker started (database %s)", "sqlite" if ctx.db.is_sqlite else "postgresql"
    )
    await stopping.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    await ctx.close()


def admin_set_plan(email: str, plan: str) -> None:
    """`harvestgpu admin set-plan EMAIL PLAN`: change a user's plan (and so their rate limits).

    With HARVESTGPU_REDIS_URL set, running servers apply it at once; otherwise servers that
    cached the user's identity apply it within half a minute.
    """
    from harvestgpu.errors import HarvestGPUError
    from harvestgpu.server.ratelimit import PLANS

    if plan not in PLANS:
        raise HarvestGPUError(f"Unknown plan '{plan}'; plans are: {', '.join(PLANS)}")
    settings = _settings()
    if settings.is_sqlite and not settings.sqlite_path.exists():
        raise HarvestGPUError(
            f"No database at {settings.sqlite_path}: set HARVESTGPU_DATA_DIR (or HARVESTGPU_DATABASE_URL) "
            "as for the server"
        )
    if not asyncio.run(_set_plan(settings, email.strip().lower(), plan)):
        raise HarvestGPUError(f"No account with email '{email}'")


async def _set_plan(settings: Settings, email: str, plan: str) -> bool:
    from sqlalchemy import update

    from harvestgpu.server import orm
    from harvestgpu.server.cache_sync import AuthCache, CacheSync
    from harvestgpu.server.db import Database, run_migrations

    await asyncio.to_thread(run_migrations, settings.effective_database_url)
    db = Database(settings.effective_database_url)
    sync = CacheSync(AuthCache(), None, settings.redis_url, settings.redis_key_prefix)
    try:
        async with db.write() as conn:
            user_id = (
                await conn.execute(
                    update(orm.users)
                    .where(orm.users.c.email == email)
                    .values(plan=plan)
                    .returning(orm.users.c.id)
                )
            ).scalar_one_or_none()
        if user_id is not None:
            await sync.forget_user(user_id)
        return user_id is not None
    finally:
        await sync.close()
        await db.dispose()
