"""Fixtures: the real app in-process (httpx over ASGI) on SQLite and, when configured, PostgreSQL.

PostgreSQL runs when HARVESTGPU_TEST_DATABASE_URL is set (CI sets it and `.ci/run` fails if the
server is unreachable, so those tests never skip silently there).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harvestgpu.server.app import create_app
from harvestgpu.server.context import AppContext
from harvestgpu.server.settings import Settings
from harvestgpu.server.workers.engine import JobEngine
from tests.support import data, drop_pg_database, fresh_pg_database, pg_base_url, wait_for

if os.environ.get("CI") and not pg_base_url():
    raise RuntimeError(
        "CI must set HARVESTGPU_TEST_DATABASE_URL: the PostgreSQL suite may not be skipped there"
    )

BACKENDS = ["sqlite"] + (["postgres"] if pg_base_url() else [])


def make_settings(tmp_path: Path, database_url: str = "", **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-master-secret",
        mock_job_seconds=1.0,
        mock_boot_seconds=0.0,
        monitor_interval_s=0.05,
        run_workers=False,
        orphan_sweep_interval_s=3600,
        provider_timeout_s=5.0,
        # The fixtures poll far faster than any plan allows; the limits have their own tests.
        rate_limit_enabled=False,
    )
    base.update(overrides)
    return Settings(**base)


@dataclass
class Api:
    client: httpx.AsyncClient
    ctx: AppContext
    engine: JobEngine
    app: Any
    users: list[dict[str, Any]] = field(default_factory=list)

    async def register(self, email: str | None = None, password: str = "correct-horse") -> dict[str, Any]:
        email = email or f"user{len(self.users)}-{os.urandom(3).hex()}@example.com"
        d = data(
            await self.client.post("/api/v1/auth/register", json={"email": email, "password": password}), 201
        )
        d["headers"] = {"Authorization": f"Bearer {d['api_key']}"}
        self.users.append(d)
        return d

    async def drive(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            await self.engine.run_once()

    async def job(self, user: dict[str, Any], job_id: str) -> dict[str, Any]:
        return dict(data(await self.client.get(f"/api/v1/jobs/{job_id}", headers=user["headers"])))

    async def run_until(
        self,
        user: dict[str, Any],
        job_id: str,
        *statuses: str,
        timeout: float = 20.0,
        phase: str | None = None,
    ) -> dict[str, Any]:
        """Drive the engine until the job reaches one of ``statuses`` (and ``phase``, if given)."""

        async def check() -> dict[str, Any] | None:
            await self.engine.run_once()
            job = await self.job(user, job_id)
            if job["status"] not in statuses:
                return None
            if phase is not None and await self.phase(job_id) != phase:
                return None
            return job

        return await wait_for(check, timeout=timeout, interval=0.02, what=f"job {job_id} -> {statuses}")

    async def phase(self, job_id: str) -> str:
        from sqlalchemy import select

        from harvestgpu.server import orm

        row = await self.ctx.db.fetch_one(select(orm.jobs.c.phase).where(orm.jobs.c.id == job_id))
        assert row is not None
        return str(row["phase"])


@asynccontextmanager
async def running_api(tmp_path: Path, backend: str = "sqlite", **overrides: Any) -> AsyncIterator[Api]:
    url = fresh_pg_database() if backend == "postgres" else ""
    settings = make_settings(tmp_path, url, **overrides)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            ctx: AppContext = app.state.ctx
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield Api(client=client, ctx=ctx, engine=JobEngine(ctx, owner="test"), app=app)
    finally:
        if url:
            drop_pg_database(url)


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The real app on each database backend, workers driven by the test (engine.run_once)."""
    async with running_api(tmp_path, request.param) as a:
        yield a


@pytest.fixture
async def api_sqlite(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path, "sqlite") as a:
        yield a


@pytest.fixture
def api_factory(tmp_path: Path) -> Any:
    """Build an app with custom settings: `async with api_factory(mock_no_capacity="H100") as api:`."""
    return lambda backend="sqlite", **overrides: running_api(tmp_path, backend, **overrides)
