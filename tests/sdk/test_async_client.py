"""``AsyncHarvestGPU`` behaves like ``HarvestGPU``: same requests, same retries, same errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from harvestgpu import AsyncHarvestGPU, AsyncJob, NoCapacityError, NotFoundError
from tests.sdk.scripted import FakeClock, Script, fail, job_json, ok

MakeAsyncClient = Callable[..., AsyncHarvestGPU]


async def test_run_waits_until_the_job_leaves_queued(make_async_client: MakeAsyncClient) -> None:
    script = Script(ok(job_json(status="queued"), 201), ok(job_json(status="running")))
    client = make_async_client(script)

    job = await client.run(gpu="H100", budget_max=2.5, max_duration=1)

    assert isinstance(job, AsyncJob)
    assert (job.status, job.provider) == ("running", "mock")
    body = json.loads(script.requests[0].content)
    assert (body["budget_max_per_hour"], body["max_duration_hours"]) == (2.5, 1)


async def test_retries_keep_the_idempotency_key(make_async_client: MakeAsyncClient, clock: FakeClock) -> None:
    script = Script(
        httpx.ReadError("Connection reset by peer"),
        fail(429, "Rate limit exceeded", {"Retry-After": "2"}),
        ok(job_json(), 201),
    )
    client = make_async_client(script)

    await client.run(gpu="H100")

    assert len({request.headers["Idempotency-Key"] for request in script.requests}) == 1
    assert len(script.requests) == 3
    assert clock.sleeps[-1] == 2.0


async def test_no_capacity_is_not_retried(make_async_client: MakeAsyncClient) -> None:
    script = Script(fail(503, "No providers available for H100 x1 under $0.10/h: 9 over budget"))

    with pytest.raises(NoCapacityError):
        await make_async_client(script).run(gpu="H100", budget_max=0.1)

    assert len(script.requests) == 1


async def test_job_methods_update_the_job(make_async_client: MakeAsyncClient) -> None:
    script = Script(
        ok(job_json(status="running")),
        ok(job_json(status="stopped", total_cost=0.01)),
        fail(404, "Job 'job-1' not found"),
    )
    client = make_async_client(script)
    job = await client.job("job-1")

    assert (await job.stop()).status == "stopped"
    assert job.total_cost == 0.01
    with pytest.raises(NotFoundError):
        await job.refresh()


async def test_wait_polls_until_finished(make_async_client: MakeAsyncClient) -> None:
    script = Script(
        ok(job_json(status="running")),
        ok(job_json(status="running")),
        ok(job_json(status="completed", exit_code=0)),
    )
    job = await make_async_client(script).job("job-1")

    assert (await job.wait(timeout=60)).exit_code == 0


async def test_namespaces(make_async_client: MakeAsyncClient) -> None:
    stored = {
        "provider": "runpod",
        "label": None,
        "last4": "3456",
        "active": True,
        "created_at": "2026-04-14T12:00:00Z",
    }
    script = Script(
        ok(stored),
        ok({"keys": [stored]}),
        ok({"provider": "runpod", "valid": False, "message": "Key rejected"}),
        ok({"provider": "runpod", "deleted": True}),
        ok({"keys": []}),
        ok({"id": "k1", "revoked": True}),
    )
    client = make_async_client(script)

    assert (await client.provider_keys.add("runpod", "rp_secret_123456")).last4 == "3456"
    assert [key.provider for key in await client.provider_keys.list()] == ["runpod"]
    assert (await client.provider_keys.test("runpod")).valid is False
    await client.provider_keys.remove("runpod")
    assert await client.api_keys.list() == []
    await client.api_keys.revoke("k1")

    assert [(request.method, request.url.path) for request in script.requests] == [
        ("POST", "/api/v1/providers/keys"),
        ("GET", "/api/v1/providers/keys"),
        ("POST", "/api/v1/providers/keys/runpod/test"),
        ("DELETE", "/api/v1/providers/keys/runpod"),
        ("GET", "/api/v1/auth/keys"),
        ("DELETE", "/api/v1/auth/keys/k1"),
    ]


async def test_provider_gpus_is_the_list_of_that_providers_offers(make_async_client: MakeAsyncClient) -> None:
    entry = {
        "gpu_model": "L40S",
        "gpu_name": "L40S 48GB",
        "price": 0.99,
        "provider": "mock",
        "gpu_count": 1,
        "vram_gb": 48,
        "region": "us-east",
        "available": True,
        "observed_at": "2026-04-14T12:00:00Z",
        "age_s": 0.5,
    }
    script = Script(ok({"provider": "mock", "connected": True, "gpus": [entry], "error": None}))

    offers = await make_async_client(script, api_key=None).provider_gpus("mock")

    assert [(p.gpu_model, p.price) for p in offers] == [("L40S", 0.99)]
    assert (offers.provider, offers.connected, offers.error) == ("mock", True, None)
