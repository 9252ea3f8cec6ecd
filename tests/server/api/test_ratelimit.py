"""Plan rate limits (SPEC "Rate Limits"): requests per minute, jobs per hour, per-address auth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harvestgpu.errors import HarvestGPUError
from harvestgpu.server.cli_commands import admin_set_plan
from tests.conftest import BACKENDS, Api
from tests.support import data, error


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, api_factory: Any) -> AsyncIterator[Api]:
    async with api_factory(request.param, rate_limit_enabled=True, mock_job_seconds=60) as a:
        yield a


async def set_plan(api: Api, monkeypatch: pytest.MonkeyPatch, email: str, plan: str) -> None:
    """What `harvestgpu admin set-plan EMAIL PLAN` does, against this test's database."""
    monkeypatch.setenv("HARVESTGPU_DATA_DIR", str(api.ctx.settings.data_dir))
    monkeypatch.setenv("HARVESTGPU_DATABASE_URL", api.ctx.settings.database_url)
    await asyncio.to_thread(admin_set_plan, email, plan)


def client_from(api: Api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_polling_one_job_counts_against_the_plan_limit(api: Api) -> None:
    """GET /api/v1/jobs/{id} is served by a plain Starlette route (the hot path): still limited."""
    user = await api.register()
    job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "H100"}), 201)
    for _ in range(59):  # the submit was request 1 of 60
        data(await api.client.get(f"/api/v1/jobs/{job['id']}", headers=user["headers"]))
    limited = await api.client.get(f"/api/v1/jobs/{job['id']}", headers=user["headers"])
    error(limited, 429)
    assert limited.headers["RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) >= 1


async def test_the_61st_request_in_a_minute_on_the_free_plan_is_a_429_with_headers(api: Api) -> None:
    user, other = await api.register(), await api.register()
    for n in range(1, 61):
        response = await api.client.get("/api/v1/jobs", headers=user["headers"])
        data(response)
        assert response.headers["RateLimit-Limit"] == "60"
        assert response.headers["RateLimit-Remaining"] == str(60 - n)
    limited = await api.client.get("/api/v1/auth/me", headers=user["headers"])
    message = error(limited, 429)
    assert "60 requests per minute" in message and "Free plan" in message
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.headers["RateLimit-Limit"] == "60" and limited.headers["RateLimit-Remaining"] == "0"
    assert limited.headers["RateLimit-Reset"] == str(retry_after)
    assert limited.headers["x-request-id"]
    data(await api.client.get("/api/v1/jobs", headers=other["headers"]))  # counted per user


async def test_the_11th_job_in_an_hour_on_the_free_plan_is_a_429(api: Api) -> None:
    user = await api.register()
    error(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "NOPE"}), 400)
    first = None
    for _ in range(10):
        body = {"gpu": "T4", "command": "train"}
        job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
        first = first or job
    limited = await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "T4"})
    message = error(limited, 429)
    assert "10 jobs per hour" in message
    assert limited.headers["RateLimit-Limit"] == "10" and int(limited.headers["Retry-After"]) > 60
    listed = data(await api.client.get("/api/v1/jobs", headers=user["headers"]))
    assert listed["total"] == 10  # the refused submit made no job, and the 400 did not use a slot


async def test_a_retried_submit_gets_its_job_even_at_the_limit(api_factory: Any) -> None:
    async with api_factory(rate_limit_enabled=True) as api:
        user = await api.register()
        body = {"gpu": "T4", "command": "train"}
        headers = {**user["headers"], "Idempotency-Key": "nightly-42"}
        first = data(await api.client.post("/api/v1/jobs", headers=headers, json=body), 201)
        for _ in range(9):
            data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
        replay = data(await api.client.post("/api/v1/jobs", headers=headers, json=body), 200)
    assert replay["id"] == first["id"]


async def test_plans_raise_the_limits(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    payg, enterprise = await api.register(), await api.register()
    await set_plan(api, monkeypatch, payg["email"], "payg")
    await set_plan(api, monkeypatch, enterprise["email"].upper(), "enterprise")
    for _ in range(61):
        response = await api.client.get("/api/v1/jobs", headers=payg["headers"])
        data(response)
    assert response.headers["RateLimit-Limit"] == "1000" and response.headers["RateLimit-Remaining"] == "939"
    me = data(await api.client.get("/api/v1/auth/me", headers=enterprise["headers"]))
    assert me["plan"] == "enterprise"
    for _ in range(11):
        data(await api.client.post("/api/v1/jobs", headers=enterprise["headers"], json={"gpu": "T4"}), 201)


async def test_set_plan_refuses_unknown_plans_and_emails(
    api_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_factory(rate_limit_enabled=True) as api:
        user = await api.register()
        with pytest.raises(HarvestGPUError, match="Unknown plan 'gold'"):
            await set_plan(api, monkeypatch, user["email"], "gold")
        with pytest.raises(HarvestGPUError, match="No account"):
            await set_plan(api, monkeypatch, "nobody@example.com", "payg")


async def test_login_and_register_are_limited_per_client_address(api_factory: Any) -> None:
    limits = {"login_rate_limit": "3/minute;100/hour", "register_rate_limit": "2/minute"}
    async with api_factory(rate_limit_enabled=True, **limits) as api:
        user = await api.register()
        for _ in range(3):
            body = {"email": user["email"], "password": "wrong-guess"}
            error(await api.client.post("/api/v1/auth/login", json=body), 401)
        good = {"email": user["email"], "password": "correct-horse"}
        limited = await api.client.post("/api/v1/auth/login", json=good)
        assert "Too many login attempts" in error(limited, 429) and int(limited.headers["Retry-After"]) >= 1
        async with client_from(api, "203.0.113.7") as elsewhere:
            data(await elsewhere.post("/api/v1/auth/login", json=good))
            for n in range(2):
                body = {"email": f"new{n}@example.com", "password": "long-enough"}
                data(await elsewhere.post("/api/v1/auth/register", json=body), 201)
            body = {"email": "one-too-many@example.com", "password": "long-enough"}
            refused = await elsewhere.post("/api/v1/auth/register", json=body)
            assert "Too many register attempts" in error(refused, 429)


async def test_limits_can_be_switched_off(api_factory: Any) -> None:
    async with api_factory(rate_limit_enabled=False) as api:
        user = await api.register()
        for _ in range(65):
            response = await api.client.get("/api/v1/jobs", headers=user["headers"])
            data(response)
    assert "RateLimit-Limit" not in response.headers


async def test_an_unreachable_redis_lets_requests_through(api_factory: Any) -> None:
    async with api_factory(rate_limit_enabled=True, redis_url="redis://127.0.0.1:1/0") as api:
        user = await api.register()
        response = await api.client.get("/api/v1/jobs", headers=user["headers"])
    data(response)
    assert "RateLimit-Limit" not in response.headers
