"""Migration 0002 on a database that already has jobs: ended jobs get their usage records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from harvestgpu.server.db import MIGRATIONS_DIR, sync_url
from tests.support import pg_base_url

BACKENDS = ["sqlite"] + (["postgres"] if pg_base_url() else [])


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    base = str(pg_base_url())
    admin = base.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"hg_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url(url))
    cfg.attributes["configure_logger"] = False
    return cfg


JOB = """INSERT INTO jobs (id, user_id, status, phase, gpu, gpu_type, gpu_count, provider, image,
    env_keys, priority, cost_per_hour, total_cost, created_at, started_at, ended_at, candidates,
    rejected, attempts, next_candidate, stop_requested, retries, log_count, logs_available, updated_at)
VALUES (:id, 'u1', :status, 'done', 'H100', 'H100-PCIE', 1, 'mock', 'img', '[]', 'cost', :rate,
    :total, '2026-03-01 10:00:00', :started, :ended, '[]', '{}', '[]', 0, false, 0, 0, true,
    '2026-03-01 10:00:00')"""


def test_upgrading_backfills_usage_records_of_ended_jobs(empty_database: str) -> None:
    cfg = alembic(empty_database)
    command.upgrade(cfg, "0001")
    engine = create_engine(sync_url(empty_database))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, plan, created_at) VALUES "
                "('u1', 'a@example.com', 'x', 'free', '2026-03-01 09:00:00')"
            )
        )
        ended = {"started": "2026-03-01 10:00:00", "ended": "2026-03-01 12:30:00"}
        conn.execute(text(JOB), {"id": "done1", "status": "completed", "rate": 2.0, "total": 5.0, **ended})
        conn.execute(
            text(JOB),
            {
                "id": "live1",
                "status": "running",
                "rate": 2.0,
                "total": 0.0,
                "started": "2026-03-01 10:00:00",
                "ended": None,
            },
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        records = conn.execute(text("SELECT job_id, status, hours, cost, gpu_type FROM usage_records")).all()
        caps = conn.execute(text("SELECT max_total_cost FROM jobs ORDER BY id")).scalars().all()
    assert [tuple(r) for r in records] == [("done1", "completed", pytest.approx(2.5), 5.0, "H100-PCIE")]
    assert caps == [None, None]
    command.downgrade(cfg, "0001")
    command.upgrade(cfg, "head")
    engine.dispose()
