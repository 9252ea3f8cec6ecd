from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.support import data, error

QUICK_START = {
    "gpu": "H100",
    "image": "pytorch/pytorch:latest",
    "command": "python train.py",
    "priority": "cost",
}
JOB_FIELDS = {
    "id",
    "status",
    "gpu",
    "gpu_type",
    "gpu_count",
    "provider",
    "region",
    "image",
    "command",
    "priority",
    "budget_max_per_hour",
    "max_duration_hours",
    "cost_per_hour",
    "total_cost",
    "created_at",
    "started_at",
    "ended_at",
    "exit_code",
    "error",
}


async def submit(
    api: Api, user: dict[str, Any], status: int = 201, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return data(
        await api.client.post(
            "/api/v1/jobs", headers={**user["headers"], **(headers or {})}, json={**QUICK_START, **body}
        ),
        status,
    )


async def test_submit_has_documented_fields_and_routing_trace(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    assert JOB_FIELDS <= set(job)
    assert job["status"] == "queued" and job["gpu"] == "H100" and job["priority"] == "cost"
    trace = job["routing"]
    assert trace["candidates"][0]["gpu_model"] == "H100-PCIE"  # cheapest H100 variant at the mock
    assert set(trace["matched_models"]) == {"H100-PCIE", "H100-SXM", "H100-NVL"}
    assert trace["rejected"]["gpu_mismatch"] > 0
    running = await api.run_until(user, job["id"], "running")
    assert (
        running["provider"] == "mock" and running["cost_per_hour"] == 2.39 and running["region"] == "us-east"
    )
    assert running["routing"]["chosen"]["offer_id"] == trace["candidates"][0]["offer_id"]
    assert running["started_at"] is not None and running["created_at"].endswith("Z")


async def test_budget_cap_below_every_offer_is_503_and_creates_no_job(api: Api) -> None:
    user = await api.register()
    resp = await api.client.post(
        "/api/v1/jobs",
        headers=user["headers"],
        json={**QUICK_START, "gpu": "H100-SXM", "budget_max_per_hour": 2.50},
    )
    msg = error(resp, 503)
    assert msg.startswith("No providers available") and "2.50" in msg
    assert data(await api.client.get("/api/v1/jobs", headers=user["headers"]))["total"] == 0


async def test_sdk_snippet_budget_lands_under_cap(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user, budget_max_per_hour=2.50)
    running = await api.run_until(user, job["id"], "running")
    assert running["cost_per_hour"] <= 2.50 and running["gpu_type"] == "H100-PCIE"


async def test_priorities_choose_differently(api: Api) -> None:
    user = await api.register()
    fast = await submit(api, user, priority="speed")
    assert fast["routing"]["candidates"][0]["gpu_model"] == "H100-SXM"
    cheap = await submit(api, user, priority="cost", gpu="A100")
    assert cheap["routing"]["candidates"][0]["gpu_model"] == "A100-40GB-PCIE"


async def test_variant_names_match_the_catalog(api: Api) -> None:
    user = await api.register()
    for name, models in [("h100-sxm", {"H100-SXM"}), ("A100 80GB", {"A100-80GB-SXM", "A100-80GB-PCIE"})]:
        job = await submit(api, user, gpu=name)
        assert set(job["routing"]["matched_models"]) == models


async def test_unknown_gpu_is_400_listing_known_names(api: Api) -> None:
    user = await api.register()
    msg = error(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "H9000"}), 400)
    assert "H9000" in msg and "H100" in msg and "A100" in msg


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "gpu"),
        ({"gpu": 100}, "gpu"),
        ({"gpu": "H100", "budget_max_per_hour": 0}, "budget_max_per_hour"),
        ({"gpu": "H100", "budget_max_per_hour": -1.5}, "budget_max_per_hour"),
        ({"gpu": "H100", "budget_max_per_hour": "cheap"}, "budget_max_per_hour"),
        ({"gpu": "H100", "max_duration_hours": 0}, "max_duration_hours"),
        ({"gpu": "H100", "priority": "fastest"}, "priority"),
        ({"gpu": "H100", "gpu_count": 0}, "gpu_count"),
        ({"gpu": "H100", "gpu_count": 1.5}, "gpu_count"),
        ({"gpu": "H100", "provider": "aws"}, "provider"),
        ({"gpu": "H100", "env": {"1BAD": "x"}}, "env"),
        ({"gpu": "H100", "env": {"A": 1}}, "env"),
        ({"gpu": "H100", "image": "has space"}, "image"),
        ({"gpu": "H100", "budget_max": 2.5}, "budget_max"),
    ],
)
async def test_submit_bad_input_is_400_and_changes_nothing(
    api: Api, body: dict[str, Any], needle: str
) -> None:
    user = await api.register()
    msg = error(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 400)
    assert needle in msg
    assert data(await api.client.get("/api/v1/jobs", headers=user["headers"]))["total"] == 0


async def test_submit_malformed_json_and_empty_body(api: Api) -> None:
    user = await api.register()
    h = {**user["headers"], "Content-Type": "application/json"}
    assert "JSON" in error(await api.client.post("/api/v1/jobs", headers=h, content=b'{"gpu": '), 400)
    error(await api.client.post("/api/v1/jobs", headers=h, content=b""), 400)
    form = {**user["headers"], "Content-Type": "application/x-www-form-urlencoded"}
    msg = error(await api.client.post("/api/v1/jobs", headers=form, content=b'{"gpu": "H100"}'), 400)
    assert "Content-Type: application/json" in msg
    assert data(await api.client.get("/api/v1/jobs", headers=user["headers"]))["total"] == 0


async def test_credentials_are_checked_before_the_body(api: Api) -> None:
    """Without valid credentials a caller learns that (401), whatever the body."""
    h = {"Content-Type": "application/json"}
    for bad_auth in ({}, {"Authorization": "Bearer hg_live_nope"}):
        for path in ("/api/v1/jobs", "/api/v1/webhooks"):
            error(await api.client.post(path, headers={**h, **bad_auth}, content=b"{bad"), 401)
        error(await api.client.put("/api/v1/billing/limit", headers={**h, **bad_auth}, content=b"{"), 401)
    # Routes without authentication still answer the body's problem.
    error(await api.client.post("/api/v1/auth/login", headers=h, content=b"{bad"), 400)


async def test_idempotency_key_same_body_same_job_different_body_409(api: Api) -> None:
    user = await api.register()
    first = await submit(api, user, headers={"Idempotency-Key": "k-1"})
    again = await submit(api, user, status=200, headers={"Idempotency-Key": "k-1"})
    assert again["id"] == first["id"]
    msg = error(
        await api.client.post(
            "/api/v1/jobs",
            headers={**user["headers"], "Idempotency-Key": "k-1"},
            json={**QUICK_START, "gpu": "A100"},
        ),
        409,
    )
    assert "Idempotency-Key" in msg
    other = await api.register()  # keys are per user
    assert (await submit(api, other, headers={"Idempotency-Key": "k-1"}))["id"] != first["id"]
    assert data(await api.client.get("/api/v1/jobs", headers=user["headers"]))["total"] == 1


async def test_list_filters_and_pagination(api: Api) -> None:
    user = await api.register()
    ids = [(await submit(api, user, gpu=g))["id"] for g in ("H100", "A100", "L4", "H100", "T4")]
    listing = data(await api.client.get("/api/v1/jobs", headers=user["headers"]))
    assert (
        listing["total"] == 5 and listing["limit"] == 50 and [j["id"] for j in listing["jobs"]] == ids[::-1]
    )
    page = data(await api.client.get("/api/v1/jobs?limit=2&offset=2", headers=user["headers"]))
    assert [j["id"] for j in page["jobs"]] == ids[::-1][2:4]
    h100 = data(await api.client.get("/api/v1/jobs?gpu=H100", headers=user["headers"]))
    assert h100["total"] == 2
    queued = data(await api.client.get("/api/v1/jobs?status=queued&provider=mock", headers=user["headers"]))
    assert queued["total"] == 0  # provider is set once placed
    await api.run_until(user, ids[0], "running")
    running = data(await api.client.get("/api/v1/jobs?status=running&provider=mock", headers=user["headers"]))
    assert ids[0] in [j["id"] for j in running["jobs"]]
    assert all(j["status"] == "running" and j["provider"] == "mock" for j in running["jobs"])


@pytest.mark.parametrize(
    "query", ["limit=1000", "limit=0", "offset=-1", "status=done", "limit=abc", "provider=aws", "gpu=banana"]
)
async def test_list_bad_query_is_400(api: Api, query: str) -> None:
    user = await api.register()
    error(await api.client.get(f"/api/v1/jobs?{query}", headers=user["headers"]), 400)


async def test_unknown_and_other_users_jobs_are_404(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    job = await submit(api, alice)
    error(await api.client.get("/api/v1/jobs/doesnotexist", headers=alice["headers"]), 404)
    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/logs"):
        error(await api.client.get(path, headers=bob["headers"]), 404)
    error(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=bob["headers"]), 404)
    assert data(await api.client.get("/api/v1/jobs", headers=bob["headers"]))["total"] == 0
    assert (await api.job(alice, job["id"]))["status"] == "queued"


async def test_stop_running_job_charges_time_used_and_terminates(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    await api.run_until(user, job["id"], "running")
    stopped = data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
    assert stopped["status"] == "stopped" and stopped["ended_at"] is not None and stopped["total_cost"] > 0
    await api.run_until(user, job["id"], "stopped", phase="done")
    inst = (await api.job(user, job["id"]))["instance_id"]
    assert api.ctx.mock_cloud.get(inst)["terminated_at"] is not None
    again = await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"])
    assert "already stopped" in error(again, 400)


async def test_stop_queued_job_before_launch(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    stopped = data(await api.client.post(f"/api/v1/jobs/{job['id']}/stop", headers=user["headers"]))
    assert stopped["status"] == "stopped" and stopped["total_cost"] == 0
    await api.run_until(user, job["id"], "stopped", phase="done")
    assert api.ctx.mock_cloud.launches(f"hg-{job['id']}") == 0


async def test_failed_command_reports_exit_code(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user, command="python train.py; exit 3")
    done = await api.run_until(user, job["id"], "failed", phase="done")
    assert done["exit_code"] == 3 and "exited with code 3" in done["error"]


async def test_logs_json_with_offset(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    await api.run_until(user, job["id"], "completed", phase="done")
    logs = data(await api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=user["headers"]))
    assert logs["status"] == "completed" and logs["exit_code"] == 0 and logs["available"] is True
    assert logs["lines"][0].startswith("[mock] pulling image pytorch/pytorch:latest")
    assert "$ python train.py" in logs["lines"]
    tail = data(await api.client.get(f"/api/v1/jobs/{job['id']}/logs?offset=3", headers=user["headers"]))
    assert tail["lines"] == logs["lines"][3:] and tail["next_offset"] == len(logs["lines"])


async def test_env_values_are_not_returned(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user, env={"HF_TOKEN": "hf_supersecretvalue"})
    assert job["env_keys"] == ["HF_TOKEN"] and "hf_supersecretvalue" not in str(job)


async def test_me_counts_active_jobs_and_usage(api: Api) -> None:
    user = await api.register()
    job = await submit(api, user)
    await api.run_until(user, job["id"], "running")
    me = data(await api.client.get("/api/v1/auth/me", headers=user["headers"]))
    assert [j["id"] for j in me["active_jobs"]] == [job["id"]] and me["usage"]["jobs"] == 1
