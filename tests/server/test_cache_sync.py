"""With Redis, what one process changes reaches the others' caches at once (real server and
worker processes sharing SQLite and Redis): a revoked key or a changed plan (identities are
otherwise cached 30 s) and the offers a launch used up (otherwise cached HARVESTGPU_PRICE_TTL_S)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from harvestgpu.server.cli_commands import admin_set_plan
from tests.e2e.server_process import ServerProcess, WorkerProcess
from tests.fakes.http_server import serve_app
from tests.fakes.vastai import FakeVastAICloud
from tests.server.redis_processes import REDIS_URL, api_process, register, two_api_processes
from tests.support import REDIS_URL_ENV, data, error, wait_for_sync

pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.skipif(not REDIS_URL, reason=f"{REDIS_URL_ENV} is not set"),
]


def test_a_revoked_key_stops_working_on_every_process_at_once(tmp_path: Path) -> None:
    with two_api_processes(tmp_path) as (first, second):
        old = register(first, "revoke")
        data(httpx.get(second + "/api/v1/auth/me", headers=old, timeout=10))  # now cached there
        new_key = data(httpx.post(first + "/api/v1/auth/keys", headers=old, json={}, timeout=10), 201)
        new = {"Authorization": f"Bearer {new_key['api_key']}"}
        keys = data(httpx.get(first + "/api/v1/auth/keys", headers=new, timeout=10))["keys"]
        old_id = next(k["id"] for k in keys if k["id"] != new_key["id"])
        data(httpx.delete(f"{first}/api/v1/auth/keys/{old_id}", headers=new, timeout=10))

        def refused_by_second() -> bool:
            return httpx.get(second + "/api/v1/auth/me", headers=old, timeout=10).status_code == 401

        # Well inside the 30 s the cache would otherwise keep the key alive.
        wait_for_sync(refused_by_second, timeout=5, what="the revoked key refused by the other process")
        assert "Invalid API key" in error(httpx.get(second + "/api/v1/auth/me", headers=old, timeout=10), 401)
        data(httpx.get(second + "/api/v1/auth/me", headers=new, timeout=10))


def test_a_plan_change_reaches_running_servers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"hg-test-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    with api_process(data_dir, tmp_path / "servers.log", prefix) as server:
        body = {"email": f"plan-{uuid.uuid4().hex[:6]}@example.com", "password": "correct-horse"}
        key = data(httpx.post(server + "/api/v1/auth/register", json=body, timeout=10), 201)["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        # Plan limits come from the cached identity: the free plan's 60 a minute.
        assert (
            httpx.get(server + "/api/v1/jobs", headers=headers, timeout=10).headers["RateLimit-Limit"] == "60"
        )
        for name, value in {
            "HARVESTGPU_DATA_DIR": str(data_dir),
            "HARVESTGPU_DATABASE_URL": "",
            "HARVESTGPU_REDIS_URL": str(REDIS_URL),
            "HARVESTGPU_REDIS_KEY_PREFIX": prefix,
        }.items():
            monkeypatch.setenv(name, value)
        admin_set_plan(body["email"], "enterprise")

        def enterprise() -> bool:
            response = httpx.get(server + "/api/v1/jobs", headers=headers, timeout=10)
            return response.headers["RateLimit-Limit"] == "10000"

        wait_for_sync(enterprise, timeout=5, what="the new plan applied by the running server")


def test_a_launch_in_a_worker_process_refreshes_the_api_processes_offers(tmp_path: Path) -> None:
    """On Vast.ai an offer is one machine. After a worker rents it, the API process (which
    routes submits from its own cache) must not offer that machine to the next job."""
    fake = FakeVastAICloud()
    fake.set_price("L40S", 0.80)
    data_dir = tmp_path / "data"
    with serve_app(fake.app()) as vast_url:
        env = {
            "HARVESTGPU_REDIS_URL": str(REDIS_URL),
            "HARVESTGPU_REDIS_KEY_PREFIX": f"hg-test-{uuid.uuid4().hex[:8]}",
            "HARVESTGPU_SECRET_KEY": "cache-sync-secret",
            "HARVESTGPU_VASTAI_API_URL": vast_url,
            "HARVESTGPU_PRICE_TTL_S": "600",  # the cache would otherwise outlive this whole test
            "HARVESTGPU_MONITOR_INTERVAL_S": "0.2",
        }
        api = ServerProcess(data_dir, env=env).start(no_workers=True)
        worker = WorkerProcess(data_dir, env, "offers")
        try:
            with api.client() as http:
                user = data(
                    http.post(
                        "/api/v1/auth/register", json={"email": "o@example.com", "password": "password1"}
                    ),
                    201,
                )
                headers = {"Authorization": f"Bearer {user['api_key']}"}
                data(
                    http.post(
                        "/api/v1/providers/keys",
                        headers=headers,
                        json={"provider": "vastai", "api_key": fake.api_key},
                    )
                )
                body = {"gpu": "L40S", "provider": "vastai", "image": "pytorch/pytorch:latest"}
                first = data(http.post("/api/v1/jobs", headers=headers, json=body), 201)
                rented = first["routing"]["candidates"][0]["offer_id"]

                def placed() -> bool:
                    job = data(http.get(f"/api/v1/jobs/{first['id']}", headers=headers))
                    return job["instance_id"] is not None

                wait_for_sync(placed, timeout=30, what="the first job placed by the worker process")
                second = data(http.post("/api/v1/jobs", headers=headers, json=body), 201)
                assert second["routing"]["candidates"][0]["offer_id"] != rented
                assert rented not in {c["offer_id"] for c in second["routing"]["candidates"]}
        finally:
            worker.stop()
            api.stop()
