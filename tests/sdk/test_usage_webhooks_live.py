"""Usage, spend limit and webhooks through the SDK against the real server (mock provider)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from harvestgpu import AsyncHarvestGPU, HarvestGPU, InvalidRequestError, Job, NotFoundError
from tests.sdk.live_server import Account, LiveServer
from tests.sdk.webhook_receiver import latest_if_delivered, running_receiver, signature_is_valid, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def gpu(live_server: LiveServer, account: Account) -> Iterator[HarvestGPU]:
    with HarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as client:
        yield client


def _ran_and_stopped(gpu: HarvestGPU) -> Job:
    job = gpu.run(gpu="H100", command="python train.py")
    assert job.status == "running"
    return job.stop()


def test_a_stopped_job_shows_in_this_months_usage_and_in_the_history(gpu: HarvestGPU) -> None:
    job = _ran_and_stopped(gpu)

    usage = gpu.usage()
    history = gpu.usage_history()
    records = list(history)

    assert job.total_cost is not None and job.total_cost > 0
    assert usage.period == usage.as_of.strftime("%Y-%m")
    assert (usage.jobs, usage.running_jobs, usage.total_cost) == (1, 0, job.total_cost)
    assert usage.daily[-1].date <= usage.as_of.date()
    assert sum(day.cost for day in usage.daily) == pytest.approx(job.total_cost)
    assert [(p.provider, p.cost) for p in usage.by_provider] == [("mock", job.total_cost)]
    assert [g.gpu_type for g in usage.by_gpu] == [job.gpu_type]
    assert [(r.job_id, r.status, r.cost, r.provider) for r in records] == [
        (job.id, "stopped", job.total_cost, "mock")
    ]
    assert history.total == 1
    assert history.months is not None
    assert [(m.period, m.jobs, m.cost) for m in history.months] == [(usage.period, 1, job.total_cost)]


def test_monthly_spend_limit_set_shown_and_removed(gpu: HarvestGPU) -> None:
    before = gpu.billing_limit()
    set_to = gpu.set_billing_limit(25)
    shown = gpu.billing_limit()
    usage = gpu.usage()
    cleared = gpu.set_billing_limit(None)

    assert (before.monthly_limit, before.remaining, before.spent) == (None, None, 0.0)
    assert (set_to.monthly_limit, set_to.remaining) == (25.0, 25.0)
    assert shown == set_to
    assert (usage.monthly_limit, usage.remaining) == (25.0, 25.0)
    assert (cleared.monthly_limit, cleared.remaining) == (None, None)
    with pytest.raises(InvalidRequestError, match="monthly_limit"):
        gpu.set_billing_limit(0)


def test_webhook_receives_signed_events_that_can_be_listed_and_resent(gpu: HarvestGPU) -> None:
    with running_receiver() as receiver:
        hook = gpu.webhooks.create(receiver.url, events=["job.stopped"])
        listed = gpu.webhooks.list()
        job = _ran_and_stopped(gpu)

        first = receiver.wait_for_events(1)[0]
        delivered = wait_until(lambda: latest_if_delivered(gpu, hook.id), "delivered status")
        resent = gpu.webhooks.resend(hook.id, delivered.id)
        again = receiver.wait_for_events(2)[1]

    payload = json.loads(first.body)
    assert hook.secret.startswith("whsec_")
    assert hook.secret not in repr(hook) + repr(listed)
    assert [(w.id, w.url, w.events) for w in listed] == [(hook.id, receiver.url, ["job.stopped"])]
    assert signature_is_valid(hook.secret, first)
    assert (payload["event"], payload["job_id"], payload["status"]) == ("job.stopped", job.id, "stopped")
    assert payload["total_cost"] == job.total_cost
    assert first.headers["x-harvestgpu-event-id"] == delivered.event_id
    assert (delivered.attempts, delivered.response_status, delivered.payload) == (1, 200, payload)
    assert (resent.status, resent.event_id) == ("pending", delivered.event_id)
    assert resent.id != delivered.id
    assert again.headers["x-harvestgpu-event-id"] == delivered.event_id
    assert again.body == first.body
    assert signature_is_valid(hook.secret, again)
    assert [d.id for d in gpu.webhooks.deliveries(hook.id)] == [resent.id, delivered.id]

    gpu.webhooks.delete(hook.id)
    assert gpu.webhooks.list() == []
    with pytest.raises(NotFoundError):
        list(gpu.webhooks.deliveries(hook.id))


def test_unknown_events_and_urls_are_refused_with_the_reason(gpu: HarvestGPU) -> None:
    with pytest.raises(
        InvalidRequestError, match=re.escape("unknown event 'job.exploded'; known events: job.running")
    ):
        gpu.webhooks.create("https://example.com/hook", events="job.completed,job.exploded")
    with pytest.raises(InvalidRequestError, match=re.escape("http:// or https://")):
        gpu.webhooks.create("ftp://example.com/hook")
    assert gpu.webhooks.list() == []


async def test_async_client_usage_limit_and_webhooks(live_server: LiveServer, account: Account) -> None:
    async with AsyncHarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as gpu:
        usage = await gpu.usage()
        records = [record async for record in gpu.usage_history()]
        limit = await gpu.set_billing_limit(12.5)
        hook = await gpu.webhooks.create("http://127.0.0.1:9/async-hook", events="job.completed,job.failed")
        listed = await gpu.webhooks.list()
        deliveries = [d async for d in gpu.webhooks.deliveries(hook.id)]
        await gpu.webhooks.delete(hook.id)
        after_delete = await gpu.webhooks.list()

    assert (usage.jobs, usage.total_cost, records) == (0, 0.0, [])
    assert len(usage.daily) == usage.as_of.day
    assert limit.monthly_limit == 12.5
    assert hook.events == ["job.completed", "job.failed"]
    assert [w.id for w in listed] == [hook.id]
    assert deliveries == []
    assert after_delete == []
