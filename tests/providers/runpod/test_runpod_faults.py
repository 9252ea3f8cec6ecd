"""Every scripted fault of the fake RunPod mapped to the right ProviderError, with no key leak."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
    RateLimitedError,
)
from harvestgpu.providers.runpod import RunPodProvider
from harvestgpu.providers.types import Offer, OfferQuery
from tests.fakes.http_server import serve_app
from tests.fakes.runpod import FakeRunPodCloud
from tests.providers.runpod.helpers import assert_key_hidden, launch_spec, offer_for

Call = Callable[[RunPodProvider, str], Awaitable[Any]]


async def _validate(p: RunPodProvider, pod_id: str) -> Any:
    return await p.validate_key()


async def _offers(p: RunPodProvider, pod_id: str) -> Any:
    return await p.list_offers(OfferQuery())


async def _get(p: RunPodProvider, pod_id: str) -> Any:
    return await p.get_instance(pod_id)


async def _terminate(p: RunPodProvider, pod_id: str) -> Any:
    return await p.terminate(pod_id)


async def _logs(p: RunPodProvider, pod_id: str) -> Any:
    return await p.logs(pod_id)


async def _list(p: RunPodProvider, pod_id: str) -> Any:
    return await p.list_instances()


CALLS: dict[str, Call] = {
    "validate": _validate,
    "offers": _offers,
    "get": _get,
    "terminate": _terminate,
    "logs": _logs,
    "list": _list,
}
FAULT_ERRORS: dict[str, type[ProviderError]] = {
    "auth": ProviderAuthError,
    "balance": QuotaError,
    "server_error": ProviderTransientError,
}


@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
@pytest.mark.parametrize("op", sorted(CALLS))
async def test_faults_on_reads_and_teardown_map_to_error_classes(
    provider: RunPodProvider, fake: FakeRunPodCloud, op: str, fault: str
) -> None:
    pod_id = fake.plant("hg-faulty")
    fake.fail_next(op, fault)
    with pytest.raises(FAULT_ERRORS[fault]) as caught:
        await CALLS[op](provider, pod_id)
    assert type(caught.value) is FAULT_ERRORS[fault]
    assert_key_hidden(fake.api_key, caught.value, caught.value.message)
    await CALLS[op](provider, pod_id)  # the fault was one-off: the next call works


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("no_capacity", NoCapacityError),
        ("balance", QuotaError),
        ("auth", ProviderAuthError),
        ("server_error", ProviderTransientError),
    ],
)
async def test_launch_faults_map_to_error_classes(
    provider: RunPodProvider, fake: FakeRunPodCloud, fault: str, error: type[ProviderError]
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    fake.fail_next("launch", fault)
    with pytest.raises(error) as caught:
        await provider.launch(launch_spec(offer))
    assert type(caught.value) is error
    assert fake.instances() == {}
    assert_key_hidden(fake.api_key, caught.value, caught.value.message)


async def test_launch_on_an_offer_that_lost_its_capacity(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "RTX-4090")
    fake.set_capacity("RTX-4090", False)
    with pytest.raises(NoCapacityError, match="no longer any instances"):
        await provider.launch(launch_spec(offer))


async def test_create_that_fails_after_creating_returns_the_pod(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    fake.fail_next("launch", "create_then_fail")
    instance = await provider.launch(launch_spec(offer))
    assert list(fake.instances()) == [instance.instance_id]
    assert len(fake.launch_bodies) == 1  # looked up by name, never created twice


async def test_slow_answer_beyond_the_timeout_is_transient(
    fake: FakeRunPodCloud, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = RunPodProvider(api_key=fake.api_key, http=http, base_url=base_url, timeout_s=0.3)
    pod_id = fake.plant("hg-slow")
    fake.fail_next("get", "slow", delay_s=1.0)
    with pytest.raises(ProviderTransientError, match=r"no answer within 0\.3 s"):
        await provider.get_instance(pod_id)
    assert (await provider.get_instance(pod_id)).instance_id == pod_id


async def test_slow_create_then_relaunch_finds_the_late_pod(
    fake: FakeRunPodCloud, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = RunPodProvider(api_key=fake.api_key, http=http, base_url=base_url, timeout_s=0.3)
    offer = await offer_for(provider, "L40S")
    fake.fail_next("launch", "slow", delay_s=1.0)
    with pytest.raises(ProviderTransientError):
        await provider.launch(launch_spec(offer))
    deadline = time.monotonic() + 5
    while not fake.instances():  # the cloud finishes the create after we gave up waiting
        assert time.monotonic() < deadline, "the slow create never landed"
        time.sleep(0.02)
    again = await provider.launch(launch_spec(offer))
    assert list(fake.instances()) == [again.instance_id]


async def test_rate_limit_honours_retry_after_then_succeeds(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    fake.fail_next("offers", "rate_limit", delay_s=1)
    offers = await provider.list_offers(OfferQuery())
    assert offers
    catalog_calls = [p for _, p, _ in fake.requests_seen if p == "/v2/catalog/gpus"]
    assert len(catalog_calls) == 2


async def test_rate_limit_gives_up_after_two_retries(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    pod_id = fake.plant("hg-busy")
    fake.fail_next("get", "rate_limit", times=3, delay_s=1)
    with pytest.raises(RateLimitedError) as caught:
        await provider.get_instance(pod_id)
    assert caught.value.retry_after == 1
    assert len([p for _, p, _ in fake.requests_seen if p == f"/v2/pods/{pod_id}"]) == 3


async def test_rate_limit_longer_than_the_budget_raises_at_once(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    fake.fail_next("list", "rate_limit", delay_s=30)
    with pytest.raises(RateLimitedError) as caught:
        await provider.list_instances()
    assert caught.value.retry_after == 30
    assert len(fake.requests_seen) == 1


async def test_rate_limited_create_waits_and_creates_once(
    provider: RunPodProvider, fake: FakeRunPodCloud, caplog: pytest.LogCaptureFixture
) -> None:
    offer = await offer_for(provider, "RTX-A6000")
    fake.fail_next("launch", "rate_limit", delay_s=1)
    with caplog.at_level(logging.DEBUG):
        instance = await provider.launch(launch_spec(offer))
    assert list(fake.instances()) == [instance.instance_id]
    assert len(fake.launch_bodies) == 2  # the 429 and the create
    assert "rate limited" in caplog.text
    assert fake.api_key not in caplog.text


async def test_create_that_stays_rate_limited_raises(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    offer = await offer_for(provider, "RTX-A6000")
    fake.fail_next("launch", "rate_limit", delay_s=30)
    with pytest.raises(RateLimitedError) as caught:
        await provider.launch(launch_spec(offer))
    assert caught.value.retry_after == 30
    assert fake.instances() == {}


def _echoing_cloud(status: int) -> Starlette:
    """A misbehaving cloud that quotes the request's Authorization header in its errors."""

    async def echo(request: Request) -> JSONResponse:
        if status != 403 and request.method == "GET" and request.url.path == "/v2/pods":
            return JSONResponse({"pods": []})
        detail = f"rejected request with {request.headers.get('authorization')}"
        body = {"title": "Error", "status": status, "detail": detail, "errors": [detail]}
        return JSONResponse(body, status_code=status, media_type="application/problem+json")

    paths = ["/v2/pods", "/v2/pods/{pod_id}", "/v2/pods/{pod_id}/logs", "/v2/catalog/gpus"]
    return Starlette(routes=[Route(path, echo, methods=["GET", "POST", "DELETE"]) for path in paths])


@pytest.mark.parametrize(
    ("status", "read_error", "create_error"),
    [
        (400, ProviderBadRequestError, NoCapacityError),  # create: "could not be placed"
        (403, ProviderAuthError, NoCapacityError),  # create: "cannot access the pool"
        (422, ProviderBadRequestError, ProviderBadRequestError),
        (503, ProviderTransientError, ProviderTransientError),
    ],
)
async def test_cloud_errors_are_classified_and_an_echoed_key_is_redacted(
    http: httpx.AsyncClient, status: int, read_error: type[ProviderError], create_error: type[ProviderError]
) -> None:
    key = "rpa_SECRETKEY0123456789abcd"
    with serve_app(_echoing_cloud(status)) as url:
        provider = RunPodProvider(api_key=key, http=http, base_url=url)
        reads: list[ProviderError] = []
        for call in (provider.get_instance("abc"), provider.terminate("abc"), provider.logs("abc"),
                     provider.list_offers(OfferQuery())):  # fmt: skip
            with pytest.raises(ProviderError) as caught:
                await call
            reads.append(caught.value)
        if status == 403:
            with pytest.raises(ProviderAuthError):
                await provider.validate_key()
            return
        with pytest.raises(ProviderError) as launch_failure:
            await provider.launch(launch_spec(_any_offer()))
    assert all(type(f) is read_error for f in reads)
    assert type(launch_failure.value) is create_error
    for failure in [*reads, launch_failure.value]:
        assert "Bearer ****" in failure.message
        assert_key_hidden(key, failure, failure.message, failure.args)


def _any_offer() -> Offer:
    return Offer(
        provider="runpod",
        offer_id="SECURE:US-KS-2:1xNVIDIA H100 80GB HBM3",
        gpu_model="H100-SXM",
        gpu_count=1,
        vram_gb=80,
        price_per_hour=2.99,
        region="US-KS-2",
        extra={"gpu_type_id": "NVIDIA H100 80GB HBM3", "cloud": "SECURE", "data_center_id": "US-KS-2"},
    )


async def test_an_echoed_key_is_redacted_when_it_was_configured_with_a_newline(
    http: httpx.AsyncClient,
) -> None:
    key = "rpa_SECRETKEY0123456789abcd"
    with serve_app(_echoing_cloud(503)) as url:
        provider = RunPodProvider(api_key=key + "\n", http=http, base_url=url)
        with pytest.raises(ProviderTransientError) as caught:
            await provider.get_instance("abc")
    assert "Bearer ****" in caught.value.message
    assert_key_hidden(key, caught.value, caught.value.message, caught.value.args)
