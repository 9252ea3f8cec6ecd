"""Removing a provider key: nothing new is placed with it, running jobs stay stoppable, and its
ciphertext is erased once nothing needs it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from harvestgpu.server import orm
from harvestgpu.server.workers import orphans
from tests.conftest import Api
from tests.fakes.http_server import serve_app
from tests.fakes.runpod import FakeRunPodCloud
from tests.support import data

PK = orm.provider_keys.c


async def stored_ciphertexts(api: Api) -> list[str]:
    rows = await api.ctx.db.fetch_all(select(PK.key_ciphertext))
    return [r["key_ciphertext"] for r in rows]


async def connect(api: Api, user: dict[str, Any], fake: FakeRunPodCloud) -> None:
    body = {"provider": "runpod", "api_key": fake.api_key}
    data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))


async def test_a_removed_key_with_no_jobs_is_erased_at_once(api_factory: Any) -> None:
    fake = FakeRunPodCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(runpod_api_url=url) as api:
            user = await api.register()
            await connect(api, user, fake)
            assert all(await stored_ciphertexts(api))
            data(await api.client.delete("/api/v1/providers/keys/runpod", headers=user["headers"]))
            assert await stored_ciphertexts(api) == [""]
            await connect(api, user, fake)  # connecting again works as a fresh key
            keys = data(await api.client.get("/api/v1/providers/keys", headers=user["headers"]))["keys"]
            assert [k["provider"] for k in keys] == ["runpod"] and all(await stored_ciphertexts(api))


async def test_a_running_job_keeps_the_key_until_it_ends(api_factory: Any) -> None:
    fake = FakeRunPodCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(runpod_api_url=url) as api:
            user = await api.register()
            await connect(api, user, fake)
            body = {"gpu": "H100-SXM", "command": "python train.py"}
            job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
            running = await api.run_until(user, job["id"], "running")
            data(await api.client.delete("/api/v1/providers/keys/runpod", headers=user["headers"]))
            assert all(await stored_ciphertexts(api))  # still needed to stop that instance
            data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
            await api.run_until(user, job["id"], "stopped", phase="done")
            assert running["instance_id"] in fake.deleted_ids()
            await orphans.sweep_once(api.ctx)
            assert await stored_ciphertexts(api) == [""]


async def test_a_queued_job_is_not_placed_with_a_removed_key(api_factory: Any) -> None:
    fake = FakeRunPodCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(runpod_api_url=url) as api:
            user = await api.register()
            await connect(api, user, fake)
            body = {"gpu": "H100-SXM", "command": "python train.py"}
            job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
            data(await api.client.delete("/api/v1/providers/keys/runpod", headers=user["headers"]))
            failed = await api.run_until(user, job["id"], "failed", phase="done")
            assert {a["outcome"] for a in failed["routing"]["attempts"]} == {"auth"}
            assert "removed" in failed["routing"]["attempts"][0]["error"]
            assert fake.launch_bodies == [] and failed["total_cost"] == 0
