"""Scale-out: an API process with --no-workers and two `harvestgpu worker` processes sharing
PostgreSQL. Jobs are claimed with FOR UPDATE SKIP LOCKED: each runs to the end exactly once,
and the workers' own /metrics listeners add up to one launch per job."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server_process import ServerProcess, WorkerProcess
from tests.fakes.http_server import free_port
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
    metrics_ports = [free_port(), free_port()]
    workers = [
        WorkerProcess(data_dir, {**env, "HARVESTGPU_WORKER_METRICS_PORT": str(port)}, name)
        for name, port in zip(("a", "b"), metrics_ports, strict=True)
    ]
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
        launched = sum(launches_reported(port) for port in metrics_ports)
        assert launched == len(ids)
        with sqlite3.connect(data_dir / "mock-cloud.sqlite3") as db:
            for i in ids:
                rows = db.execute("SELECT terminated_at FROM instances WHERE name=?", (f"hg-{i}",)).fetchall()
                assert len(rows) == 1 and rows[0][0] is not None
    finally:
        for w in workers:
            w.stop()
        api.stop()
        drop_pg_database(url)


def launches_reported(port: int) -> float:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "harvestgpu_launch_attempts_total" and sample.labels["outcome"] == "launched"
    )
