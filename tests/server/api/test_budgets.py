"""Spend budgets: refused at submit when they cannot hold, jobs stopped when they are reached."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.support import data, error

PUBLIC_URL = "https://93.184.215.14/hooks"  # deliveries are only listed here, never sent


async def post_job(api: Api, user: dict[str, Any], **body: Any) -> Any:
    return await api.client.post("/api/v1/jobs", headers=user["headers"], json={"command": "train", **body})


async def set_limit(api: Api, user: dict[str, Any], limit: float | None) -> None:
    data(
        await api.client.put("/api/v1/billing/limit", headers=user["headers"], json={"monthly_limit": limit})
    )


async def budget_events(api: Api, user: dict[str, Any], hook_id: str) -> list[dict[str, Any]]:
    listed = data(await api.client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=user["headers"]))
    return [d["payload"] for d in listed["deliveries"] if d["event"] == "budget.exceeded"]


async def watch_budget(api: Api, user: dict[str, Any]) -> str:
    body = {"url": PUBLIC_URL, "events": "budget.exceeded,job.failed"}
    return str(data(await api.client.post("/api/v1/webhooks", headers=user["headers"], json=body), 201)["id"])


async def test_a_job_whose_duration_cannot_fit_its_cost_cap_is_refused(api_sqlite: Api) -> None:
    api = api_sqlite
    user = await api.register()
    # The cheapest H100 costs 2.39 $/h: 2 h cost 4.78.
    message = error(await post_job(api, user, gpu="H100", max_duration_hours=2, max_total_cost=4.0), 400)
    assert "max_total_cost" in message and "max_duration_hours" in message and "$4.78" in message
    assert data(await api.client.get("/api/v1/jobs", headers=user["headers"]))["total"] == 0


async def test_only_offers_that_fit_the_cost_cap_are_candidates(api_sqlite: Api) -> None:
    api = api_sqlite
    user = await api.register()
    job = data(await post_job(api, user, gpu="H100", max_duration_hours=2, max_total_cost=5.0), 201)
    prices = [c["price_per_hour"] for c in job["routing"]["candidates"]]
    assert prices and all(p * 2 <= 5.0 for p in prices)


async def test_submits_are_refused_once_the_monthly_limit_is_reached(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        hook = await watch_budget(api, user)
        await set_limit(api, user, 0.0005)  # ~0.75 s of an H100 PCIe
        job = data(await post_job(api, user, gpu="H100"), 201)
        stopped = await api.run_until(user, job["id"], "failed", phase="done")
        refused = error(await post_job(api, user, gpu="T4"), 400)
        [event] = await budget_events(api, user, hook)
        limit = data(await api.client.get("/api/v1/billing/limit", headers=user["headers"]))
    assert "monthly spend limit" in stopped["error"] and stopped["total_cost"] >= 0.0005
    assert "Monthly spend limit reached" in refused and "PUT /api/v1/billing/limit" in refused
    assert event["scope"] == "monthly" and event["limit"] == 0.0005 and event["spent"] >= 0.0005
    assert event["job_id"] == job["id"] and set(event) == {
        "event",
        "scope",
        "job_id",
        "limit",
        "spent",
        "period",
        "timestamp",
    }
    assert limit["remaining"] == 0.0 and limit["spent"] >= 0.0005


async def test_the_monthly_alert_is_sent_once_and_again_after_the_limit_changes(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        hook = await watch_budget(api, user)
        await set_limit(api, user, 0.0002)  # ~0.3 s of an H100 PCIe
        first = data(await post_job(api, user, gpu="H100"), 201)
        await api.run_until(user, first["id"], "failed", phase="done")
        await set_limit(api, user, 100.0)
        second = data(await post_job(api, user, gpu="H100"), 201)
        await api.run_until(user, second["id"], "running")
        await set_limit(api, user, 0.0001)  # already spent more: the running job must stop
        await api.run_until(user, second["id"], "failed", phase="done")
        events = await budget_events(api, user, hook)
    assert sorted(e["job_id"] for e in events) == sorted([first["id"], second["id"]])


async def test_a_job_that_would_exceed_what_is_left_of_the_month_is_refused(api: Api) -> None:
    user = await api.register()
    await set_limit(api, user, 3.0)
    message = error(await post_job(api, user, gpu="H100", max_duration_hours=2), 400)
    assert "could cost up to $4.78" in message and "$3.00 left" in message
    data(await post_job(api, user, gpu="H100", max_duration_hours=1), 201)  # 2.39 fits


async def test_a_running_job_is_stopped_when_it_reaches_its_cost_cap(api_factory: Any) -> None:
    async with api_factory(mock_job_seconds=60) as api:
        user = await api.register()
        hook = await watch_budget(api, user)
        job = data(await post_job(api, user, gpu="H100", max_total_cost=0.0005), 201)
        ended = await api.run_until(user, job["id"], "failed", phase="done")
        [event] = await budget_events(api, user, hook)
        [record] = data(await api.client.get("/api/v1/billing/history", headers=user["headers"]))["records"]
        other = data(await post_job(api, user, gpu="T4"), 201)  # the cap was this job's, not the account's
    assert "Reached max_total_cost ($0.0005)" in ended["error"]
    # The engine looks again when the cap is due: stopped at it, not minutes later.
    assert 0.0005 <= ended["total_cost"] < 0.0005 + 2.39 * 30 / 3600
    assert event["scope"] == "job" and event["job_id"] == job["id"] and event["limit"] == 0.0005
    assert record["cost"] == ended["total_cost"] and other["status"] == "queued"
