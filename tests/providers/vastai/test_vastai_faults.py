"""Every scripted fault of the fake maps to the right error class, and nothing leaks the key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
    RateLimitedError,
)
from harvestgpu.providers.types import OfferQuery
from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.vastai import FakeVastAICloud
from tests.providers.vastai.support import cheapest, requests_to, spec_for

OpRunner = Callable[[], Awaitable[object]]


async def _runner(provider: VastAIProvider, fake: FakeVastAICloud, op: str) -> OpRunner:
    """A zero-argument call of the adapter method behind ``op``, with its fixtures prepared."""
    offer = await cheapest(provider)
    instance_id = fake.plant("hg-existing")
    runners: dict[str, OpRunner] = {
        "validate": provider.validate_key,
        "offers": lambda: provider.list_offers(OfferQuery()),
        "launch": lambda: provider.launch(spec_for(offer, "fault-job")),
        "get": lambda: provider.get_instance(instance_id),
        "terminate": lambda: provider.terminate(instance_id),
        "logs": lambda: provider.logs(instance_id),
        "list": provider.list_instances,
    }
    return runners[op]


FAULT_CASES = [
    (op, fault, expected)
    for op in ("validate", "offers", "launch", "get", "terminate", "logs", "list")
    for fault, expected in (
        ("auth", ProviderAuthError),
        ("balance", QuotaError),
        ("server_error", ProviderTransientError),
        ("rate_limit", RateLimitedError),
        ("slow", ProviderTransientError),
    )
] + [("launch", "no_capacity", NoCapacityError)]


@pytest.mark.parametrize(("op", "fault", "expected"), FAULT_CASES)
async def test_fault_maps_to_error_class_without_the_key(
    provider: VastAIProvider, fake: FakeVastAICloud, op: str, fault: str, expected: type[ProviderError]
) -> None:
    run = await _runner(provider, fake, op)
    fake.rate_limit_retry_after = "0"  # keep the retries this matrix provokes instant
    fake.fail_next(op, fault, times=3, delay_s=0.6)
    provider.timeout_s = 0.2

    with pytest.raises(ProviderError) as caught:
        await run()

    assert type(caught.value) is expected
    assert caught.value.provider == "vastai"
    assert fake.api_key not in str(caught.value) and fake.api_key not in repr(caught.value)
    if fault != "slow":  # a slow create still lands at the fake after we gave up
        assert "hg-fault-job" not in {i["label"] for i in fake.instances().values()}


async def test_rate_limit_without_retry_after_backs_off_then_succeeds(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    instance_id = fake.plant("hg-job20")
    fake.fail_next("get", "rate_limit", times=2)

    instance = await provider.get_instance(instance_id)

    assert instance.name == "hg-job20"
    assert len(requests_to(fake, "GET", f"/api/v0/instances/{instance_id}/")) == 3


async def test_retry_after_is_honoured_then_the_call_succeeds(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    fake.plant("hg-job21")
    fake.rate_limit_retry_after = "1"
    fake.fail_next("list", "rate_limit", times=1)

    listed = await provider.list_instances()

    assert [i.name for i in listed] == ["hg-job21"]
    assert len(requests_to(fake, "GET", "/api/v1/instances/")) == 2


async def test_retry_after_beyond_the_wait_budget_raises_at_once(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    fake.rate_limit_retry_after = "30"
    fake.fail_next("offers", "rate_limit", times=1)

    with pytest.raises(RateLimitedError) as caught:
        await provider.list_offers(OfferQuery())

    assert caught.value.retry_after == 30
    assert len(requests_to(fake, "POST", "/api/v0/bundles/")) == 1


async def test_rate_limits_that_do_not_stop_are_reported_after_two_retries(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    fake.fail_next("validate", "rate_limit", times=5)

    with pytest.raises(RateLimitedError) as caught:
        await provider.validate_key()

    assert caught.value.retry_after == pytest.approx(1.5)  # Vast's "endpoint threshold=1.5"
    assert len(requests_to(fake, "GET", "/api/v0/users/current/")) == 3


async def test_rate_limited_create_is_never_retried(provider: VastAIProvider, fake: FakeVastAICloud) -> None:
    offer = await cheapest(provider)
    fake.fail_next("launch", "rate_limit", times=1)

    with pytest.raises(RateLimitedError):
        await provider.launch(spec_for(offer, "job22"))

    assert len(requests_to(fake, "PUT", f"/api/v0/asks/{offer.offer_id}/")) == 1
    assert fake.instances() == {}


async def test_create_that_fails_after_creating_returns_the_created_instance(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider)
    fake.fail_next("launch", "create_then_fail")

    instance = await provider.launch(spec_for(offer, "job23"))
    again = await provider.launch(spec_for(offer, "job23"))

    [(instance_id, record)] = fake.instances().items()
    assert instance.instance_id == again.instance_id == instance_id
    assert record["label"] == instance.name == "hg-job23"
    assert len(fake.launch_bodies) == 1


async def test_server_error_on_create_that_created_nothing_is_transient(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider)
    fake.fail_next("launch", "server_error")

    with pytest.raises(ProviderTransientError) as caught:
        await provider.launch(spec_for(offer, "job24"))

    assert caught.value.status == 500 and fake.instances() == {}


async def test_slow_create_times_out_and_a_retry_adopts_the_late_instance(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider)
    fake.fail_next("launch", "slow", delay_s=0.5)
    provider.timeout_s = 0.1

    with pytest.raises(ProviderTransientError):
        await provider.launch(spec_for(offer, "job25"))

    deadline = time.monotonic() + 5
    while not fake.instances():
        assert time.monotonic() < deadline, "the slow create never completed at the fake"
        await asyncio.sleep(0.02)
    provider.timeout_s = 5.0
    retried = await provider.launch(spec_for(await cheapest(provider), "job25"))

    assert set(fake.instances()) == {retried.instance_id}


@pytest.mark.parametrize(
    ("status", "error", "msg", "expected"),
    [
        (400, "invalid_price", None, ProviderBadRequestError),
        (200, "invalid_price", "bid below min_bid", ProviderBadRequestError),
        (
            410,
            "no_such_ask",
            "error 410/3907: no_such_ask Instance type 1 is no longer available.",
            NoCapacityError,
        ),
        (500, "server_error", "Internal Server Error", ProviderTransientError),
    ],
)
async def test_a_failed_create_destroys_the_instance_it_left_behind(
    provider: VastAIProvider,
    fake: FakeVastAICloud,
    status: int,
    error: str,
    msg: str | None,
    expected: type[ProviderError],
) -> None:
    offer = await cheapest(provider)
    fake.leave_stopped_on_next_create(status, error, msg)

    with pytest.raises(ProviderError) as caught:
        await provider.launch(spec_for(offer, "job26"))

    assert type(caught.value) is expected
    [left] = fake.deleted_ids()
    assert fake.instances() == {}
    assert len(requests_to(fake, "DELETE", f"/api/v0/instances/{left}/")) == 1


async def test_a_failed_destroy_of_the_left_instance_keeps_the_create_error(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider)
    fake.leave_stopped_on_next_create(400, "invalid_price")
    fake.fail_next("terminate", "server_error")

    with pytest.raises(ProviderBadRequestError):
        await provider.launch(spec_for(offer, "job27"))

    [(left, record)] = fake.instances().items()
    assert record["actual_status"] == "stopped" and record["label"] == "hg-job27"
    assert len(requests_to(fake, "DELETE", f"/api/v0/instances/{left}/")) == 1
