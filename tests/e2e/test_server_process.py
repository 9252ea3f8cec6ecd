"""The README's promise, as a user runs it: a real server process, SPEC's quick start over HTTP,
and a crash (kill -9) in the middle of a job that must not lose or double-launch it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server_process import ServerProcess
from tests.support import wait_for_sync

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", env={"HARVESTGPU_MOCK_JOB_SECONDS": "4"}).start()
    yield proc
    proc.stop()


def test_quick_start_over_http(server: ServerProcess) -> None:
    with server.client() as http:
        reg = http.post(
            "/api/v1/auth/register", json={"email": "you@example.com", "password": "your-password"}
        )
        assert reg.status_code == 201
        key = reg.json()["data"]["api_key"]
        assert key.startswith("hg_live_")
        auth = {"Authorization": f"Bearer {key}"}
        job = http.post(
            "/api/v1/jobs",
            headers=auth,
            json={
                "gpu": "H100",
                "image": "pytorch/pytorch:latest",
                "command": "python train.py",
                "priority": "cost",
            },
        ).json()["data"]

        def status() -> str | None:
            s = http.get(f"/api/v1/jobs/{job['id']}", headers=auth).json()["data"]["status"]
            return s if s in ("running", "completed") else None

        assert wait_for_sync(status, timeout=20, what="job running") in ("running", "completed")
        lines = []
        with http.stream("GET", f"/api/v1/jobs/{job['id']}/logs?follow=true", headers=auth) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("event: end"):
                    break
        assert any("step 10/10" in line for line in lines)
        done = http.get(f"/api/v1/jobs/{job['id']}", headers=auth).json()["data"]
        assert done["status"] == "completed" and done["total_cost"] > 0
        assert http.get("/api/v1/pricing").json()["data"]["pricing"]


def _launches(data_dir: Path, job_id: str) -> int:
    with sqlite3.connect(data_dir / "mock-cloud.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM instances WHERE name=?", (f"hg-{job_id}",)).fetchone()[0])


def test_kill_9_mid_job_then_restart_finishes_it_with_one_launch(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HARVESTGPU_MOCK_JOB_SECONDS": "6"}
    first = ServerProcess(data_dir, env=env).start()
    with first.client() as http:
        key = http.post(
            "/api/v1/auth/register", json={"email": "k@example.com", "password": "password1"}
        ).json()["data"]["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        jobs = [
            http.post("/api/v1/jobs", headers=auth, json={"gpu": g, "command": "python train.py"}).json()[
                "data"
            ]["id"]
            for g in ("H100", "A100", "L4")
        ]
        wait_for_sync(
            lambda: all(
                http.get(f"/api/v1/jobs/{j}", headers=auth).json()["data"]["status"] == "running"
                for j in jobs
            ),
            timeout=20,
            what="jobs running",
        )
    first.kill9()
    second = ServerProcess(data_dir, env=env, port=first.port).start()
    try:
        with second.client() as http:

            def all_completed() -> bool:
                got = [http.get(f"/api/v1/jobs/{j}", headers=auth).json()["data"] for j in jobs]
                return all(j["status"] == "completed" for j in got)

            wait_for_sync(all_completed, timeout=30, what="jobs completed after restart")
            for j in jobs:
                assert _launches(data_dir, j) == 1
                logs = http.get(f"/api/v1/jobs/{j}/logs", headers=auth).json()["data"]["lines"]
                assert len(logs) == len(set(logs)), "log lines duplicated across the restart"
    finally:
        second.stop()
