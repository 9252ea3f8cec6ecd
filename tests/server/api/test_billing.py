"""/billing/usage and /billing/history through the real app and engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import BACKENDS, Api
from tests.support import data, error


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, api_factory: Any) -> AsyncIterator[Api]:
    async with api_factory(request.param, mock_job_seconds=0.2) as a:
        yield a


async def submit(api: Api, user: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"gpu": "T4", "command": "python train.py", **extra}
    return dict(data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201))


async def get(api: Api, user: dict[str, Any], path: str) -> Any:
    return data(await api.client.get(path, headers=user["headers"]))


async def test_a_finished_job_shows_in_usage_and_its_record_matches_the_job(api: Api) -> None:
    user = await api.register()
    job = await api.run_until(user, (await submit(api, user))["id"], "completed", phase="done")

    usage = await get(api, user, "/api/v1/billing/usage")
    assert usage["period"] == datetime.now(UTC).strftime("%Y-%m")
    assert usage["total_cost"] == pytest.approx(job["total_cost"], abs=1e-6) and usage["total_cost"] > 0
    assert usage["jobs"] == 1 and usage["running_jobs"] == 0
    today = usage["daily"][-1]
    assert today["date"] == job["ended_at"][:10] and today["jobs"] == 1
    assert [p["provider"] for p in usage["by_provider"]] == ["mock"]
    assert [g["gpu_type"] for g in usage["by_gpu"]] == [job["gpu_type"]]

    history = await get(api, user, "/api/v1/billing/history")
    [record] = history["records"]
    assert record["job_id"] == job["id"] and record["status"] == "completed"
    assert record["cost"] == job["total_cost"]  # the same number, not a second computation
    assert record["started_at"] == job["started_at"] and record["ended_at"] == job["ended_at"]
    assert record["cost_per_hour"] == job["cost_per_hour"] and record["provider"] == "mock"
    assert history["months"][0]["period"] == usage["period"] and history["total"] == 1


async def test_a_stopped_job_is_billed_exactly_what_the_job_says(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        job = await submit(api, user)
        await api.run_until(user, job["id"], "running")
        stopped = data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
        [record] = (await get(api, user, "/api/v1/billing/history"))["records"]
    assert stopped["status"] == "stopped"
    assert record["status"] == "stopped" and record["cost"] == stopped["total_cost"]
    assert record["ended_at"] == stopped["ended_at"]


async def test_a_running_job_counts_up_to_now_before_it_has_a_record(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        job = await submit(api, user)
        await api.run_until(user, job["id"], "running")
        usage = await get(api, user, "/api/v1/billing/usage")
        history = await get(api, user, "/api/v1/billing/history")
    assert usage["running_jobs"] == 1 and usage["jobs"] == 1 and usage["total_cost"] > 0
    assert history["records"] == [] and history["total"] == 0


async def test_usage_is_per_user(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=0.2) as api:
        spender, other = await api.register(), await api.register()
        await api.run_until(spender, (await submit(api, spender))["id"], "completed", phase="done")
        usage = await get(api, other, "/api/v1/billing/usage")
        history = await get(api, other, "/api/v1/billing/history")
    assert usage["total_cost"] == 0 and usage["jobs"] == 0 and history["records"] == []


async def test_billing_needs_auth_and_valid_paging(api_sqlite: Api) -> None:
    api = api_sqlite
    error(await api.client.get("/api/v1/billing/usage"), 401)
    error(await api.client.get("/api/v1/billing/history"), 401)
    user = await api.register()
    assert "limit" in error(
        await api.client.get("/api/v1/billing/history?limit=0", headers=user["headers"]), 400
    )
    assert "offset" in error(
        await api.client.get("/api/v1/billing/history?offset=-1", headers=user["headers"]), 400
    )


async def test_a_monthly_limit_can_be_set_read_and_removed(api: Api) -> None:
    user = await api.register()
    assert (await get(api, user, "/api/v1/billing/limit"))["monthly_limit"] is None
    put = await api.client.put("/api/v1/billing/limit", headers=user["headers"], json={"monthly_limit": 25})
    assert data(put) == {
        "monthly_limit": 25.0,
        "period": datetime.now(UTC).strftime("%Y-%m"),
        "spent": 0.0,
        "remaining": 25.0,
    }
    usage = await get(api, user, "/api/v1/billing/usage")
    assert usage["monthly_limit"] == 25.0 and usage["remaining"] == 25.0
    cleared = await api.client.put(
        "/api/v1/billing/limit", headers=user["headers"], json={"monthly_limit": None}
    )
    assert data(cleared)["monthly_limit"] is None


async def test_an_invalid_monthly_limit_is_a_400(api_sqlite: Api) -> None:
    user = await api_sqlite.register()
    for body in ({"monthly_limit": -5}, {"monthly_limit": 0}, {}, {"monthly_limit": "ten"}):
        response = await api_sqlite.client.put("/api/v1/billing/limit", headers=user["headers"], json=body)
        assert "monthly_limit" in error(response, 400), body


async def test_a_job_ended_by_the_vm_agent_is_billed_like_any_other(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        job = await submit(api, user)
        await api.run_until(user, job["id"], "running")
        token = api.ctx.master.agent_token(job["id"])
        exit_url = f"/api/v1/agent/jobs/{job['id']}/exit"
        data(
            await api.client.post(
                exit_url, headers={"Authorization": f"Bearer {token}"}, json={"exit_code": 3}
            )
        )
        ended = await api.job(user, job["id"])
        [record] = (await get(api, user, "/api/v1/billing/history"))["records"]
    assert ended["status"] == "failed" and ended["exit_code"] == 3
    assert record["status"] == "failed" and record["cost"] == ended["total_cost"]
    assert record["ended_at"] == ended["ended_at"]
