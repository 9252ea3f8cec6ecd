"""Scale-out: an API process with --no-workers and two `harvestgpu worker` processes sharing
PostgreSQL. Jobs are claimed with FOR UPDATE SKIP LOCKED: each runs to the end exactly once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.server_process import ServerProcess, WorkerProcess
from tests.support import drop_pg_database, fresh_pg_database, pg_base_url, wait_for_sync

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.mark.skipif(pg_base_url() is None, reason="needs HARVESTGPU_TEST_DATABASE_URL (CI always sets it)")
def test_api_without_workers_and_two_worker_processes(tmp_path: Path) -> None:
    url = fresh_pg_database()
    data_dir = tmp_path / "data"
    env = {
        "HARVESTGPU_DATABASE_URL": url,
        "HARVESTGPU_SECRET_KEY": "scale-out-secret",
        "HARVESTGPU_MOCK_JOB_SECONDS": "2",
        "HARVESTGPU_MOCK_BOOT_SECONDS": "0.2",
        "HARVESTGPU_MONITOR_INTERVAL_S": "0.2",
        "HARVESTGPU_RATE_LIMIT_ENABLED": "false",
    }
    api = ServerProcess(data_dir, env=env).start(no_workers=True)
    workers = [WorkerProcess(data_dir, env, name) for name in ("a", "b")]
    try:
        with api.client() as http:
            reg = http.post("/api/v1/auth/register", json={"email": "s@example.com", "password": "password1"})
            auth = {"Authorization": f"Bearer {reg.json()['data']['api_key']}"}
            ids = [
                http.post("/api/v1/jobs", headers=auth, json={"gpu": g}).json()["data"]["id"]
                for g in ("H100", "A100", "L4", "T4", "L40S", "A10")
            ]

            def all_completed() -> bool:
                return all(
                    http.get(f"/api/v1/jobs/{i}", headers=auth).json()["data"]["status"] == "completed"
                    for i in ids
                )

            wait_for_sync(all_completed, timeout=60, what="jobs completed by the worker processes")
        with sqlite3.connect(data_dir / "mock-cloud.sqlite3") as db:
            for i in ids:
                rows = db.execute("SELECT terminated_at FROM instances WHERE name=?", (f"hg-{i}",)).fetchall()
                assert len(rows) == 1 and rows[0][0] is not None
    finally:
        for w in workers:
            w.stop()
        api.stop()
        drop_pg_database(url)
