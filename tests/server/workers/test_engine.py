from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from harvestgpu.providers.base import instance_name
from harvestgpu.providers.types import LaunchSpec
from harvestgpu.server import orm
from harvestgpu.server.workers import lease
from harvestgpu.server.workers.engine import JobEngine
from harvestgpu.server.workers.steps import offer_from_candidate
from tests.conftest import BACKENDS, Api
from tests.support import data, error, wait_for


async def submit(api: Api, user: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = {"gpu": "H100", "image": "pytorch/pytorch:latest", "command": "python train.py", **body}
    return dict(data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_failover_to_next_offer_when_cloud_has_no_capacity(api_factory: Any, backend: str) -> None:
    async with api_factory(backend, mock_no_capacity="H100-PCIE") as api:
        user = await api.register()
        job = await submit(api, user)
        # Polled before and after the attempts: the trace a client sees follows them.
        assert (await api.job(user, job["id"]))["routing"]["attempts"] == []
        running = await api.run_until(user, job["id"], "running")
        attempts = running["routing"]["attempts"]
        assert [a["outcome"] for a in attempts] == ["no_capacity"] * 3 + ["launched"]
        assert {a["gpu_model"] for a in attempts[:3]} == {"H100-PCIE"}
        assert running["gpu_type"] == "H100-NVL" and running["cost_per_hour"] == 2.69
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1


async def test_all_candidates_refused_fails_with_a_summary(api_factory: Any) -> None:
    async with api_factory(mock_no_capacity="H100") as api:
        user = await api.register()
        job = await submit(api, user)
        failed = await api.run_until(user, job["id"], "failed", phase="done")
        assert failed["error"].startswith("No offer could be launched after 9 attempt(s)")
        assert "no_capacity" in failed["error"] and failed["total_cost"] == 0


async def test_max_duration_is_enforced(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        job = await submit(api, user, max_duration_hours=0.0002)  # 0.72 s
        done = await api.run_until(user, job["id"], "failed", phase="done")
        assert "max_duration_hours" in done["error"] and done["exit_code"] is None
        assert api.ctx.mock_cloud.get(done["instance_id"])["terminated_at"] is not None
        assert 0 < done["total_cost"] < 0.01


async def test_crash_after_cloud_accepted_adopts_the_instance(api: Api) -> None:
    """The cloud accepted a launch but we died before recording it: no second instance."""
    user = await api.register()
    job = await submit(api, user)
    row = await api.ctx.db.fetch_one(select(orm.jobs).where(orm.jobs.c.id == job["id"]))
    assert row is not None
    cand = row["candidates"][0]
    spec = LaunchSpec(
        job_id=job["id"],
        name=instance_name(job["id"]),
        offer=offer_from_candidate(cand),
        image="pytorch/pytorch:latest",
        command="python train.py",
    )
    created = api.ctx.mock_cloud.create(spec)  # what the cloud did before the crash
    async with api.ctx.db.write() as conn:  # what we had recorded: the launch in flight
        await conn.execute(update(orm.jobs).where(orm.jobs.c.id == job["id"]).values(launch_inflight=0))
    running = await api.run_until(user, job["id"], "running")
    assert running["instance_id"] == created["id"]
    assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1


async def test_expired_lease_passes_to_another_worker_and_old_writes_are_rejected(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    claimed = await lease.claim_due(api.ctx.db, "worker-a", 10, lease_s=60)
    assert [r["id"] for r in claimed] == [job["id"]]
    assert await lease.claim_due(api.ctx.db, "worker-b", 10, lease_s=60) == []
    # Worker A stalls past its lease: move the expiry into the past rather than sleeping,
    # so a slow machine cannot let worker B's first claim win the job early.
    async with api.ctx.db.write() as conn:
        await conn.execute(
            update(orm.jobs)
            .where(orm.jobs.c.id == job["id"])
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    taken = await lease.claim_due(api.ctx.db, "worker-b", 10, lease_s=60)
    assert [r["id"] for r in taken] == [job["id"]]
    assert await lease.apply(api.ctx.db, job["id"], claimed[0]["lease_token"], {"status": "failed"}) is False
    assert (await api.job(user, job["id"]))["status"] == "queued"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_engines_never_launch_a_job_twice(api_factory: Any, backend: str) -> None:
    async with api_factory(backend) as api:
        user = await api.register()
        jobs = [await submit(api, user, gpu=g) for g in ("H100", "A100", "L4", "T4", "L40S", "A10")]
        other = JobEngine(api.ctx, owner="other")
        for _ in range(5):
            await asyncio.gather(api.engine.run_once(), other.run_once())
        for job in jobs:
            await api.run_until(user, job["id"], "running", "completed")
            assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1


async def test_stop_while_launch_in_flight_terminates_what_the_cloud_created(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    claimed = await lease.claim_due(api.ctx.db, "crashed-worker", 10, lease_s=0.01)
    row = claimed[0]
    cand = row["candidates"][0]
    await lease.apply(api.ctx.db, job["id"], row["lease_token"], {"launch_inflight": 0}, release=False)
    spec = LaunchSpec(
        job_id=job["id"],
        name=instance_name(job["id"]),
        offer=offer_from_candidate(cand),
        image="img",
        command=None,
    )
    created = api.ctx.mock_cloud.create(spec)
    data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
    await asyncio.sleep(0.05)  # the crashed worker's lease expires
    await api.run_until(user, job["id"], "stopped", phase="done")
    assert api.ctx.mock_cloud.get(created["id"])["terminated_at"] is not None


async def test_log_follow_streams_lines_then_end(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user, command="python train.py; exit 2")

    async def drive() -> None:
        await api.run_until(user, job["id"], "failed", phase="done")

    driver = asyncio.create_task(drive())
    events: list[tuple[str, Any]] = []
    async with api.client.stream(
        "GET", f"/api/v1/jobs/{job['id']}/logs?follow=true", headers=user["headers"]
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    await driver
    logs = [e[1]["line"] for e in events if e[0] == "log"]
    assert events[-1] == ("end", {"status": "failed", "exit_code": 2})
    assert "$ python train.py; exit 2" in logs and [e[1]["offset"] for e in events[:-1]] == list(
        range(len(logs))
    )


async def test_log_follow_for_unknown_job_is_404(api: Api) -> None:
    user = await api.register()
    error(await api.client.get("/api/v1/jobs/nope/logs?follow=true", headers=user["headers"]), 404)


async def test_agent_callbacks_need_the_jobs_own_token(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    other = await submit(api, user, gpu="A100")
    token = api.ctx.master.agent_token(job["id"])
    url = f"/api/v1/agent/jobs/{job['id']}"
    error(await api.client.post(url + "/logs", json={"lines": ["x"]}), 401)
    bad = {"Authorization": f"Bearer {api.ctx.master.agent_token(other['id'])}"}
    error(await api.client.post(url + "/logs", json={"lines": ["x"]}, headers=bad), 401)
    h = {"Authorization": f"Bearer {token}"}
    data(await api.client.post(url + "/logs", json={"lines": ["hello", "world"]}, headers=h))
    data(await api.client.post(url + "/exit", json={"exit_code": 0}, headers=h))
    got = await api.job(user, job["id"])
    assert got["status"] == "completed" and got["exit_code"] == 0
    logs = data(await api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=user["headers"]))
    assert logs["lines"] == ["hello", "world"]


async def test_a_step_slower_than_its_lease_keeps_the_job_from_other_workers(api_factory: Any) -> None:
    # Every mock call takes 4 s; the lease is 2 s. Without renewal, a second worker would
    # claim the job mid-launch and launch it again.
    async with api_factory(lease_seconds=2.0, mock_latency_ms=4000) as api:
        user = await api.register()
        job = await submit(api, user)
        first = asyncio.create_task(api.engine.run_once())

        async def claimed_by_first() -> bool:
            row = await api.ctx.db.fetch_one(select(orm.jobs.c.lease_owner).where(orm.jobs.c.id == job["id"]))
            return row is not None and row["lease_owner"] == api.engine.owner

        await wait_for(claimed_by_first, timeout=10, interval=0.01, what="the first worker's claim")
        claims_by_other: list[Any] = []
        while not first.done():
            claims_by_other += await lease.claim_due(api.ctx.db, "other-worker", 10, lease_s=60)
            await asyncio.sleep(0.1)
        assert await first == 1
        assert claims_by_other == []
        assert (await api.job(user, job["id"]))["instance_id"] is not None
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1
