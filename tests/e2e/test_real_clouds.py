"""Issue 3's end-to-end path: a real server process talking HTTP to all four fake clouds.

keys added -> pricing shows every cloud -> a job lands on the cheapest -> the cheapest refuses
capacity and the next job lands on the next cloud -> logs and exit code arrive (log API or VM
agent) -> stop deletes the instance at the cloud -> a planted orphan is swept -> no key in any
response, log line or the database file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server_process import ServerProcess
from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import free_port, serve_app
from tests.support import wait_for_sync

pytestmark = pytest.mark.e2e
H100_PRICES = {"runpod": 2.10, "vastai": 2.20, "lambda": 2.30, "tensordock": 2.40}


class World:
    def __init__(self, server: ServerProcess, fakes: dict[str, Any]) -> None:
        self.server = server
        self.fakes = fakes
        self.http = server.client()
        self.responses: list[str] = []
        reg = self.call(
            "POST", "/api/v1/auth/register", json={"email": "byok@example.com", "password": "password1"}
        )
        self.auth = {"Authorization": f"Bearer {reg['api_key']}"}

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = self.http.request(method, path, headers=getattr(self, "auth", {}), **kw)
        self.responses.append(resp.text)
        assert resp.status_code in (status, 201), f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()["data"]

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/jobs/{job_id}"))

    def wait_job(self, job_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for_sync(
            lambda: j if (j := self.job(job_id))["status"] in statuses else None,
            timeout=timeout,
            what=f"job {job_id} {statuses}",
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fakes = {slug: cls() for slug, cls in FAKE_CLOUDS.items()}
    for slug, fake in fakes.items():
        fake.set_price("H100-SXM", H100_PRICES[slug])
    port = free_port()
    with ExitStack() as stack:
        env = {
            f"HARVESTGPU_{'LAMBDA' if s == 'lambda' else s.upper()}_API_URL": stack.enter_context(
                serve_app(f.app())
            )
            for s, f in fakes.items()
        }
        env.update(
            HARVESTGPU_PUBLIC_URL=f"http://127.0.0.1:{port}",
            HARVESTGPU_ORPHAN_SWEEP_INTERVAL_S="1",
            HARVESTGPU_ORPHAN_GRACE_S="0",
            HARVESTGPU_PROVIDER_TIMEOUT_S="10",
        )
        server = ServerProcess(tmp_path / "data", env=env, port=port).start()
        stack.callback(server.stop)
        w = World(server, fakes)
        stack.callback(w.http.close)
        yield w


def test_byok_routing_failover_logs_stop_and_orphans(world: World) -> None:
    fakes = world.fakes
    for slug, fake in fakes.items():
        added = world.call(
            "POST",
            "/api/v1/providers/keys",
            json={"provider": slug, "api_key": fake.api_key, "label": f"my {slug}"},
        )
        assert added["last4"] == fake.api_key[-4:] and "api_key" not in added
    keys = world.call("GET", "/api/v1/providers/keys")["keys"]
    assert sorted(k["provider"] for k in keys) == sorted(fakes)
    for slug in fakes:
        assert world.call("POST", f"/api/v1/providers/keys/{slug}/test")["valid"] is True

    pricing = world.call("GET", "/api/v1/pricing?gpu=H100-SXM")
    assert {s["provider"]: s["state"] for s in pricing["providers"]} == {
        "mock": "ok",
        "runpod": "ok",
        "lambda": "ok",
        "vastai": "ok",
        "tensordock": "ok",
    }
    assert set(fakes) <= {p["provider"] for p in pricing["pricing"]}

    # 1. the cheapest cloud takes the job; it finishes through the cloud's log API
    first = world.call("POST", "/api/v1/jobs", json={"gpu": "H100-SXM", "command": "python train.py"})
    running = world.wait_job(first["id"], "running")
    assert running["provider"] == "runpod" and running["cost_per_hour"] == pytest.approx(2.10)
    fakes["runpod"].finish(running["instance_id"], 0, ["loss=0.1", "done"])
    done = world.wait_job(first["id"], "completed")
    logs = world.call("GET", f"/api/v1/jobs/{first['id']}/logs")
    assert logs["lines"][-2:] == ["loss=0.1", "done"] and logs["exit_code"] == 0
    wait_for_sync(
        lambda: done["instance_id"] in fakes["runpod"].deleted_ids(), what="runpod instance deleted"
    )

    # 2. the cheapest refuses capacity: the next cloud takes it, the attempt is on record
    fakes["runpod"].fail_next("launch", "no_capacity", times=50)
    second = world.call("POST", "/api/v1/jobs", json={"gpu": "H100-SXM", "command": "python train.py"})
    placed = world.wait_job(second["id"], "running")
    assert placed["provider"] == "vastai"
    outcomes = [(a["provider"], a["outcome"]) for a in placed["routing"]["attempts"]]
    assert ("runpod", "no_capacity") in outcomes and outcomes[-1] == ("vastai", "launched")

    # 3. stop: the instance is deleted at the cloud
    stopped = world.call("POST", f"/api/v1/jobs/{second['id']}/stop")
    assert stopped["status"] == "stopped"
    wait_for_sync(
        lambda: placed["instance_id"] in fakes["vastai"].deleted_ids(), what="vast instance destroyed"
    )

    # 4. a VM cloud: logs and the exit code come back through the agent
    third = world.call(
        "POST", "/api/v1/jobs", json={"gpu": "H100-SXM", "provider": "lambda", "command": "exit 3"}
    )
    vm = world.wait_job(third["id"], "running")
    fakes["lambda"].finish(vm["instance_id"], 3, ["booting", "Traceback: boom"])
    failed = world.wait_job(third["id"], "failed")
    assert failed["exit_code"] == 3
    assert world.call("GET", f"/api/v1/jobs/{third['id']}/logs")["lines"] == ["booting", "Traceback: boom"]
    wait_for_sync(
        lambda: vm["instance_id"] in fakes["lambda"].deleted_ids(), what="lambda instance terminated"
    )

    # 5. an orphan (named like ours, no job behind it) is swept
    orphan = fakes["tensordock"].plant("hg-00000000deadbeef")
    wait_for_sync(lambda: orphan in fakes["tensordock"].deleted_ids(), timeout=30, what="orphan swept")

    # 6. no provider key anywhere a user or an operator could read it
    db_bytes = (world.server.data_dir / "harvestgpu.sqlite3").read_bytes()
    wal = world.server.data_dir / "harvestgpu.sqlite3-wal"
    db_bytes += wal.read_bytes() if wal.exists() else b""
    log_text = world.server.log_text()
    for fake in fakes.values():
        assert all(fake.api_key not in text for text in world.responses)
        assert fake.api_key not in log_text
        assert fake.api_key.encode() not in db_bytes


def test_deleting_a_key_keeps_running_jobs_stoppable(world: World) -> None:
    fake = world.fakes["runpod"]
    world.call("POST", "/api/v1/providers/keys", json={"provider": "runpod", "api_key": fake.api_key})
    job = world.call("POST", "/api/v1/jobs", json={"gpu": "H100-SXM"})
    running = world.wait_job(job["id"], "running")
    world.call("DELETE", "/api/v1/providers/keys/runpod")
    assert world.call("GET", "/api/v1/providers/keys")["keys"] == []
    world.call("POST", f"/api/v1/jobs/{job['id']}/stop")
    wait_for_sync(
        lambda: running["instance_id"] in fake.deleted_ids(), what="instance deleted after key removal"
    )
    with httpx.Client(base_url=world.server.base_url) as anon:
        assert anon.get("/api/v1/pricing").json()["data"]["providers"][1]["state"] == "not_connected"
