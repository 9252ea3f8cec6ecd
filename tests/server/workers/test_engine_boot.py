"""Boots that fail: the instance is abandoned (terminated, confirmed) and the job fails over.

The mock is told which GPU variants never leave booting (``mock_stuck_boot``). For an ``H100``
job ranked by cost the mock's candidates are H100-PCIE in three regions, then H100-NVL and
H100-SXM; no-capacity refusals of PCIE put the two cheapest NVL offers first, so two stuck boots
come before a variant that starts.
"""

from __future__ import annotations

from typing import Any

import pytest

from harvestgpu.providers.base import instance_name
from harvestgpu.server.workers import orphans
from harvestgpu.server.workers.boot import MAX_ABANDONED_BOOTS
from tests.conftest import BACKENDS, Api
from tests.server.test_metrics import samples, value
from tests.support import data, wait_for

FAST_BOOT_TIMEOUT = {"boot_timeout_s": 0.3}


async def submit(api: Api, user: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = {"gpu": "H100", "image": "pytorch/pytorch:latest", "command": "python train.py", **body}
    return dict(data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201))


def live_instances(api: Api, job_id: str) -> list[str]:
    return [row["id"] for row in api.ctx.mock_cloud.live() if row["name"] == instance_name(job_id)]


async def drive_to_phase(api: Api, user: dict[str, Any], job_id: str, phase: str) -> dict[str, Any]:
    """Step the engine until the job is in ``phase``; the job as the API shows it then."""

    async def check() -> dict[str, Any] | None:
        if await api.phase(job_id) == phase:
            return await api.job(user, job_id)
        await api.engine.run_once()
        return None

    return await wait_for(check, timeout=20, interval=0.02, what=f"job {job_id} in phase {phase}")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_boot_that_never_starts_fails_over_to_the_next_candidate(
    api_factory: Any, backend: str
) -> None:
    async with api_factory(
        backend, mock_no_capacity="H100-PCIE", mock_stuck_boot="H100-NVL", **FAST_BOOT_TIMEOUT
    ) as api:
        user = await api.register()
        job = await submit(api, user)
        seen: list[tuple[str, str]] = []

        async def running() -> dict[str, Any] | None:
            await api.engine.run_once()
            got = await api.job(user, job["id"])
            seen.append((await api.phase(job["id"]), got["status"]))
            return got if got["status"] != "queued" else None

        got = await wait_for(running, timeout=30, interval=0.02, what="the job running")
        assert got["status"] == "running"
        assert got["gpu_type"] == "H100-SXM" and got["cost_per_hour"] == 2.86
        attempts = got["routing"]["attempts"]
        assert [a["outcome"] for a in attempts] == ["no_capacity"] * 3 + ["boot_timeout"] * 2 + ["launched"]
        assert [a["gpu_model"] for a in attempts[3:5]] == ["H100-NVL", "H100-NVL"]
        assert attempts[3]["region"] != attempts[4]["region"]
        assert "did not start within 0.3 s" in attempts[3]["error"]
        assert got["routing"]["chosen"]["gpu_model"] == "H100-SXM"
        # Queued until it ran; the abandon phase happened in between.
        assert ("abandon", "queued") in seen
        assert {status for phase, status in seen if phase != "monitor"} == {"queued"}
        # Two stuck instances, both terminated at the cloud; one instance alive: the running one.
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 3
        assert live_instances(api, job["id"]) == [got["instance_id"]]
        assert await orphans.sweep_once(api.ctx) == []
        assert live_instances(api, job["id"]) == [got["instance_id"]]
        found = samples(await api.client.get("/metrics"))
        assert value(found, "harvestgpu_boot_failures_total", provider="mock", outcome="boot_timeout") == 2
        assert value(found, "harvestgpu_launch_attempts_total", provider="mock", outcome="no_capacity") == 3


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_third_failed_boot_fails_the_job_with_the_summary(api_factory: Any, backend: str) -> None:
    async with api_factory(backend, mock_stuck_boot="H100", **FAST_BOOT_TIMEOUT) as api:
        user = await api.register()
        job = await submit(api, user)
        failed = await api.run_until(user, job["id"], "failed", phase="done", timeout=30)
        outcomes = [a["outcome"] for a in failed["routing"]["attempts"]]
        assert outcomes == ["boot_timeout"] * MAX_ABANDONED_BOOTS
        assert len(failed["routing"]["candidates"]) > MAX_ABANDONED_BOOTS  # candidates were left
        assert failed["error"].startswith(
            f"No offer could be launched after {MAX_ABANDONED_BOOTS} attempt(s) "
            f"(gave up after {MAX_ABANDONED_BOOTS} instances that did not start): "
        )
        assert "boot_timeout (the instance did not start within 0.3 s)" in failed["error"]
        assert failed["started_at"] is None and failed["total_cost"] == 0
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == MAX_ABANDONED_BOOTS
        assert live_instances(api, job["id"]) == []


async def test_failed_boots_that_use_up_the_candidates_fail_the_job(api_factory: Any) -> None:
    async with api_factory(mock_stuck_boot="H100-PCIE", **FAST_BOOT_TIMEOUT) as api:
        user = await api.register()
        job = await submit(api, user, budget_max_per_hour=2.50)  # the two cheapest PCIE offers only
        assert len(job["routing"]["candidates"]) == 2
        failed = await api.run_until(user, job["id"], "failed", phase="done", timeout=30)
        assert failed["error"].startswith("No offer could be launched after 2 attempt(s): mock H100-PCIE")
        assert "gave up" not in failed["error"]
        assert [a["outcome"] for a in failed["routing"]["attempts"]] == ["boot_timeout"] * 2
        assert failed["total_cost"] == 0 and live_instances(api, job["id"]) == []


async def test_an_instance_that_dies_before_running_is_abandoned_with_the_clouds_state(
    api_factory: Any,
) -> None:
    async with api_factory(mock_stuck_boot="H100-PCIE", boot_timeout_s=600) as api:
        user = await api.register()
        job = await submit(api, user)
        booting = await drive_to_phase(api, user, job["id"], "boot")
        first = booting["instance_id"]
        api.ctx.mock_cloud.terminate(first)  # the cloud ended it (preempted, deleted in its console)

        async def relaunched() -> dict[str, Any] | None:
            await api.engine.run_once()
            got = await api.job(user, job["id"])
            return got if got["instance_id"] not in (None, first) else None

        got = await wait_for(relaunched, timeout=20, interval=0.02, what="a second launch")
        attempts = got["routing"]["attempts"]
        assert [a["outcome"] for a in attempts] == ["boot_failed", "launched"]
        assert attempts[0]["error"] == "the instance ended before it started (terminated)"
        assert attempts[0]["region"] != attempts[1]["region"]
        assert got["status"] == "queued"
        data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
        await api.run_until(user, job["id"], "stopped", phase="done")
        assert live_instances(api, job["id"]) == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_stop_during_a_stuck_boot_terminates_it(api_factory: Any, backend: str) -> None:
    async with api_factory(backend, mock_stuck_boot="H100", boot_timeout_s=600) as api:
        user = await api.register()
        job = await submit(api, user)
        await drive_to_phase(api, user, job["id"], "boot")
        await api.drive(3)
        assert live_instances(api, job["id"]) != []
        data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
        stopped = await api.run_until(user, job["id"], "stopped", phase="done")
        assert stopped["total_cost"] == 0
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1
        assert live_instances(api, job["id"]) == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_stop_while_abandoning_wins_over_the_relaunch(api_factory: Any, backend: str) -> None:
    async with api_factory(backend, mock_stuck_boot="H100", **FAST_BOOT_TIMEOUT) as api:
        user = await api.register()
        job = await submit(api, user)
        abandoning = await drive_to_phase(api, user, job["id"], "abandon")
        assert abandoning["status"] == "queued"
        # The job still owns the instance it is abandoning: the sweep leaves it to the engine.
        assert await orphans.sweep_once(api.ctx) == []
        data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
        stopped = await api.run_until(user, job["id"], "stopped", phase="done")
        assert [a["outcome"] for a in stopped["routing"]["attempts"]] == ["boot_timeout"]
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 1
        assert live_instances(api, job["id"]) == []


async def test_abandon_resumes_after_a_crash_between_terminate_and_relaunch(api_factory: Any) -> None:
    async with api_factory(
        mock_no_capacity="H100-PCIE", mock_stuck_boot="H100-NVL", **FAST_BOOT_TIMEOUT
    ) as api:
        user = await api.register()
        job = await submit(api, user)
        abandoning = await drive_to_phase(api, user, job["id"], "abandon")
        # A worker deleted the instance at the cloud, then died before recording it.
        api.ctx.mock_cloud.terminate(abandoning["instance_id"])
        running = await api.run_until(user, job["id"], "running", timeout=30)
        assert [a["outcome"] for a in running["routing"]["attempts"]][3:] == [
            "boot_timeout",
            "boot_timeout",
            "launched",
        ]
        assert api.ctx.mock_cloud.launches(instance_name(job["id"])) == 3
        assert live_instances(api, job["id"]) == [running["instance_id"]]
