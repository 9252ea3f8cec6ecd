"""Webhook delivery to a real local HTTP receiver: payload, signature, retries, restarts, isolation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harvestgpu.server.workers.webhooks import WebhookWorker, retry_delay
from tests.conftest import BACKENDS, Api
from tests.server.webhook_receiver import Receiver, webhook_receiver
from tests.support import data, error, wait_for

SPEC_FIELDS = {"event", "job_id", "gpu_type", "provider", "total_cost", "status", "timestamp"}
FAST_RETRIES: dict[str, Any] = dict(
    webhook_allow_private=True,  # the receiver listens on 127.0.0.1
    webhook_retry_base_s=0.01,
    webhook_retry_max_s=0.05,
    webhook_timeout_s=5.0,
    mock_job_seconds=0.2,
)


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, api_factory: Any) -> AsyncIterator[Api]:
    async with api_factory(request.param, **FAST_RETRIES) as a:
        yield a


async def add_webhook(api: Api, user: dict[str, Any], url: str, events: str) -> dict[str, Any]:
    body = {"url": url, "events": events}
    return dict(data(await api.client.post("/api/v1/webhooks", headers=user["headers"], json=body), 201))


async def finished_job(api: Api, user: dict[str, Any], command: str = "python train.py") -> dict[str, Any]:
    body = {"gpu": "T4", "command": command}
    job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
    return await api.run_until(user, job["id"], "completed", "failed", phase="done")


async def deliveries(api: Api, user: dict[str, Any], webhook_id: str) -> list[dict[str, Any]]:
    url = f"/api/v1/webhooks/{webhook_id}/deliveries"
    return list(data(await api.client.get(url, headers=user["headers"]))["deliveries"])


async def deliver_until(worker: WebhookWorker, receiver: Receiver, count: int) -> list[Any]:
    async def check() -> bool:
        await worker.run_once()
        return len(receiver.requests) >= count

    await wait_for(check, timeout=15, interval=0.02, what=f"{count} webhook request(s)")
    return receiver.requests


async def test_job_events_arrive_signed_with_exactly_the_spec_payload(api: Api) -> None:
    user = await api.register()
    with webhook_receiver() as receiver:
        hook = await add_webhook(api, user, receiver.url, "job.running,job.completed")
        job = await finished_job(api, user)
        first, second = await deliver_until(WebhookWorker(api.ctx, owner="t"), receiver, 2)

    by_event = {r.json["event"]: r for r in (first, second)}
    assert set(by_event) == {"job.running", "job.completed"}
    completed = by_event["job.completed"]
    assert set(completed.json) == SPEC_FIELDS
    assert completed.json == {
        "event": "job.completed",
        "job_id": job["id"],
        "gpu_type": job["gpu_type"],
        "provider": "mock",
        "total_cost": job["total_cost"],
        "status": "completed",
        "timestamp": job["ended_at"][:19] + "Z",
    }
    running = by_event["job.running"].json
    assert set(running) == SPEC_FIELDS and running["status"] == "running" and running["job_id"] == job["id"]
    for received in (first, second):
        assert received.signature_valid(hook["secret"])
        assert not received.signature_valid("whsec_not-the-secret")
        assert received.headers["content-type"] == "application/json"
        assert received.headers["x-harvestgpu-event"] == received.json["event"]
        assert received.headers["x-harvestgpu-event-id"].startswith("evt_")
    assert first.headers["x-harvestgpu-event-id"] != second.headers["x-harvestgpu-event-id"]
    listed = await deliveries(api, user, hook["id"])
    assert {d["status"] for d in listed} == {"delivered"} and all(d["attempts"] == 1 for d in listed)
    assert hook["secret"] not in str(listed)
    documented_verify = verify_from_docs()
    assert documented_verify(hook["secret"], completed.headers, completed.body)
    assert not documented_verify(hook["secret"], completed.headers, completed.body.replace(b"0", b"1"))


def verify_from_docs() -> Any:
    """The receiver's ``verify`` exactly as docs/webhooks.md shows it."""
    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["verify"]


async def test_a_failed_attempt_is_retried_with_the_same_event_until_it_succeeds(api: Api) -> None:
    user = await api.register()
    worker = WebhookWorker(api.ctx, owner="t")
    with webhook_receiver() as receiver:
        receiver.answer_next(500)
        hook = await add_webhook(api, user, receiver.url, "job.completed")
        await finished_job(api, user)
        await deliver_until(worker, receiver, 1)
        [after_failure] = await deliveries(api, user, hook["id"])
        await deliver_until(worker, receiver, 2)

    assert after_failure["status"] == "pending" and after_failure["attempts"] == 1
    assert after_failure["response_status"] == 500 and "500" in after_failure["last_error"]
    assert after_failure["next_attempt_at"] is not None
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["x-harvestgpu-event-id"] == second.headers["x-harvestgpu-event-id"]
    assert second.signature_valid(hook["secret"])
    [done] = await deliveries(api, user, hook["id"])
    assert done["status"] == "delivered" and done["attempts"] == 2 and done["response_status"] == 200
    assert await worker.run_once() == 0  # nothing left to send


async def test_a_delivery_claimed_by_a_worker_that_died_is_sent_by_another(api_factory: Any) -> None:
    for backend in BACKENDS:
        async with api_factory(
            backend, lease_seconds=0.3, **FAST_RETRIES | {"webhook_timeout_s": 0.1}
        ) as api:
            user = await api.register()
            with webhook_receiver() as receiver:
                await add_webhook(api, user, receiver.url, "job.completed")
                await finished_job(api, user)
                dead = WebhookWorker(api.ctx, owner="dead")
                assert len(await dead.claim(10)) == 1  # claimed, then the process "dies"
                survivor = WebhookWorker(api.ctx, owner="survivor")
                assert await survivor.run_once() == 0  # the lease still holds
                await deliver_until(survivor, receiver, 1)
            assert len(receiver.requests) == 1


async def test_no_event_is_lost_across_a_server_restart(api_factory: Any) -> None:
    with webhook_receiver() as receiver:
        async with api_factory("sqlite", **FAST_RETRIES) as first_run:
            user = await first_run.register()
            hook = await add_webhook(first_run, user, receiver.url, "job.completed")
            job = await finished_job(first_run, user)
        assert receiver.requests == []  # the server stopped before anything was sent
        async with api_factory("sqlite", **FAST_RETRIES) as second_run:
            [received] = await deliver_until(WebhookWorker(second_run.ctx, owner="t"), receiver, 1)
    assert received.json["job_id"] == job["id"] and received.signature_valid(hook["secret"])


async def test_private_targets_are_refused_at_delivery_too_unless_allowed(api_factory: Any) -> None:
    with webhook_receiver() as receiver:
        async with api_factory("sqlite", **FAST_RETRIES) as permissive:
            user = await permissive.register()
            hook = await add_webhook(permissive, user, receiver.url, "job.completed")
            await finished_job(permissive, user)
        async with api_factory("sqlite", **FAST_RETRIES | {"webhook_allow_private": False}) as default:
            assert await WebhookWorker(default.ctx, owner="t").run_once() == 1
            [attempt] = await deliveries(default, user, hook["id"])
    assert receiver.requests == []
    assert attempt["status"] == "pending" and "127.0.0.1" in attempt["last_error"]
    assert "public address" in attempt["last_error"]


async def test_a_slow_endpoint_does_not_hold_up_other_endpoints_or_the_api(api: Api) -> None:
    user = await api.register()
    release = threading.Event()
    stopping = asyncio.Event()
    with webhook_receiver(hold=release) as slow, webhook_receiver() as fast:
        await add_webhook(api, user, slow.url, "job.completed")
        await add_webhook(api, user, fast.url, "job.completed")
        await finished_job(api, user)
        loop = asyncio.create_task(WebhookWorker(api.ctx, owner="t").run_forever(stopping))
        try:
            await wait_for(lambda: _truthy(len(slow.requests) == 1 and len(fast.requests) == 1), what="both")
            listed = data(await api.client.get("/api/v1/webhooks", headers=user["headers"]))["webhooks"]
            assert len(listed) == 2  # the API answers while the slow endpoint still holds its request
        finally:
            release.set()
            stopping.set()
            await asyncio.wait_for(loop, timeout=10)


async def _truthy(value: bool) -> bool:
    return value


async def test_a_delivery_can_be_sent_again_with_the_same_event(api: Api) -> None:
    user = await api.register()
    worker = WebhookWorker(api.ctx, owner="t")
    with webhook_receiver() as receiver:
        hook = await add_webhook(api, user, receiver.url, "job.completed")
        await finished_job(api, user)
        await deliver_until(worker, receiver, 1)
        [original] = await deliveries(api, user, hook["id"])
        url = f"/api/v1/webhooks/{hook['id']}/deliveries/{original['id']}/resend"
        again = data(await api.client.post(url, headers=user["headers"]), 201)
        # While that one is pending, another resend of the event would only send it twice.
        assert "still being delivered" in error(await api.client.post(url, headers=user["headers"]), 409)
        await deliver_until(worker, receiver, 2)
    assert again["event_id"] == original["event_id"] and again["id"] != original["id"]
    assert receiver.requests[0].body == receiver.requests[1].body
    assert {d["status"] for d in await deliveries(api, user, hook["id"])} == {"delivered"}
    other = await api.register()
    assert (await api.client.post(url, headers=other["headers"])).status_code == 404


async def test_a_delivery_gives_up_after_its_retry_window(api_factory: Any) -> None:
    async with api_factory("sqlite", **FAST_RETRIES | {"webhook_max_age_hours": 1e-9}) as api:
        user = await api.register()
        worker = WebhookWorker(api.ctx, owner="t")
        with webhook_receiver() as receiver:
            receiver.answer_next(503)
            hook = await add_webhook(api, user, receiver.url, "job.completed")
            await finished_job(api, user)
            await deliver_until(worker, receiver, 1)
            assert await worker.run_once() == 0
        [failed] = await deliveries(api, user, hook["id"])
    assert failed["status"] == "failed" and failed["response_status"] == 503
    assert failed["next_attempt_at"] is None and len(receiver.requests) == 1


async def test_deleting_a_webhook_drops_its_pending_deliveries(api: Api) -> None:
    user = await api.register()
    with webhook_receiver() as receiver:
        hook = await add_webhook(api, user, receiver.url, "job.completed")
        await finished_job(api, user)
        data(await api.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=user["headers"]))
        assert await WebhookWorker(api.ctx, owner="t").run_once() == 0
    assert receiver.requests == []


def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)]:
        for _ in range(50):
            assert ceiling / 2 <= retry_delay(attempt, 30, 3600) <= ceiling
