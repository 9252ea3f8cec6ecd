"""Fault classification, 429 handling, timeouts, ambiguous creates and key secrecy."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
from harvestgpu.providers.tensordock import TensorDockProvider
from harvestgpu.providers.tensordock.client import TensorDockClient
from harvestgpu.providers.types import OfferQuery
from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.providers.tensordock.helpers import launch_spec, offer_for

Call = Callable[[], Awaitable[Any]]


async def prepare(op: str, provider: TensorDockProvider, fake: FakeTensorDockCloud) -> Call:
    """Everything the operation needs first (which may talk to the fake), then the call itself."""
    if op == "validate":
        return provider.validate_key
    if op == "offers":
        return lambda: provider.list_offers(OfferQuery())
    if op == "launch":
        spec = launch_spec(await offer_for(provider, "H100-SXM"))
        return lambda: provider.launch(spec)
    if op == "get":
        iid = fake.plant("hg-existing")
        return lambda: provider.get_instance(iid)
    if op == "terminate":
        iid = fake.plant("hg-existing")
        return lambda: provider.terminate(iid)
    assert op == "list"
    return provider.list_instances


def assert_no_key(exc: BaseException, key: str) -> None:
    assert key not in str(exc) and key not in repr(exc)
    assert key not in getattr(exc, "message", "")
    assert exc.__cause__ is None or key not in repr(exc.__cause__)


OPS_WITH_HTTP = ["validate", "offers", "launch", "get", "terminate", "list"]
CASES = [
    *[(op, "auth", ProviderAuthError) for op in OPS_WITH_HTTP],
    *[(op, "server_error", ProviderTransientError) for op in OPS_WITH_HTTP],
    *[(op, "balance", QuotaError) for op in OPS_WITH_HTTP],
    *[(op, "rate_limit", RateLimitedError) for op in OPS_WITH_HTTP],
    ("launch", "no_capacity", NoCapacityError),
]


@pytest.mark.parametrize(("op", "fault", "error"), CASES)
async def test_every_fault_maps_to_its_error_class(
    provider: TensorDockProvider,
    fake: FakeTensorDockCloud,
    op: str,
    fault: str,
    error: type[ProviderError],
) -> None:
    fake.retry_after_s = 0  # keep the (bounded) 429 retries instant here
    call = await prepare(op, provider, fake)
    existing = set(fake.instances())
    fake.fail_next(op, fault, times=3)
    with pytest.raises(error) as caught:
        await call()
    assert caught.value.provider == "tensordock"
    assert_no_key(caught.value, fake.api_key)
    assert set(fake.instances()) == existing  # a failed launch leaves nothing behind


async def test_429_with_retry_after_is_honoured_then_succeeds(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    fake.fail_next("offers", "rate_limit")
    offers = await provider.list_offers(OfferQuery())
    assert offers
    assert [p for _, p, _ in fake.requests_seen].count("/api/v2/locations") == 2


async def test_429_waits_what_retry_after_says(fake: FakeTensorDockCloud, fake_url: str) -> None:
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    fake.retry_after_s = 2
    fake.fail_next("get", "rate_limit", times=2)
    iid = fake.plant("hg-x")
    async with httpx.AsyncClient() as http:
        client = TensorDockClient(
            api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=5, sleep=record_wait
        )
        response = await client.get(f"/instances/{iid}")
    assert response.status == 200 and waits == [2.0, 2.0]


async def test_429_without_retry_after_backs_off_briefly(fake: FakeTensorDockCloud, fake_url: str) -> None:
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    fake.retry_after_s = None
    fake.fail_next("list", "rate_limit", times=3)
    async with httpx.AsyncClient() as http:
        client = TensorDockClient(
            api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=5, sleep=record_wait
        )
        with pytest.raises(RateLimitedError) as caught:
            await client.get("/instances")
    assert len(waits) == 2 and 0 < sum(waits) <= 5
    assert caught.value.retry_after is None


async def test_429_beyond_the_wait_budget_raises_at_once_with_retry_after(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    fake.retry_after_s = 30
    fake.fail_next("get", "rate_limit")
    iid = fake.plant("hg-x")
    with pytest.raises(RateLimitedError) as caught:
        await provider.get_instance(iid)
    assert caught.value.retry_after == 30
    assert [p for _, p, _ in fake.requests_seen].count(f"/api/v2/instances/{iid}") == 1


async def test_the_per_minute_limit_of_the_organisation_is_enforced(
    fake_url: str, fake: FakeTensorDockCloud, provider: TensorDockProvider
) -> None:
    fake.requests_per_minute = 2
    await provider.validate_key()
    await provider.validate_key()
    with pytest.raises(RateLimitedError) as caught:
        await provider.validate_key()
    assert caught.value.retry_after is not None and caught.value.retry_after > 5


async def test_a_create_is_never_retried_on_429(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    fake.retry_after_s = 0
    spec = launch_spec(await offer_for(provider, "H100-SXM"))
    fake.fail_next("launch", "rate_limit")
    with pytest.raises(RateLimitedError):
        await provider.launch(spec)
    assert len(fake.launch_bodies) == 1 and fake.instances() == {}


@pytest.mark.parametrize("op", ["validate", "offers", "get", "terminate", "list", "launch"])
async def test_an_answer_slower_than_the_timeout_is_transient(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, op: str
) -> None:
    call = await prepare(op, provider, fake)
    existing = set(fake.instances())
    provider.timeout_s = 0.3
    fake.fail_next(op, "slow", delay_s=3.0)
    with pytest.raises(ProviderTransientError, match="did not answer") as caught:
        await call()
    assert type(caught.value) is ProviderTransientError
    assert_no_key(caught.value, fake.api_key)
    assert set(fake.instances()) == existing


async def test_a_slow_answer_within_the_timeout_succeeds(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    fake.fail_next("offers", "slow", delay_s=0.2)
    assert await provider.list_offers(OfferQuery())


async def test_create_that_fails_after_creating_returns_the_created_instance(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    spec = launch_spec(await offer_for(provider, "A100-80GB-SXM"))
    fake.fail_next("launch", "create_then_fail")
    instance = await provider.launch(spec)
    assert list(fake.instances()) == [instance.instance_id]
    assert instance.name == spec.name
    assert len(fake.launch_bodies) == 1
    # and the job's retry finds it again instead of creating a second VM
    assert (await provider.launch(spec)).instance_id == instance.instance_id
    assert len(fake.instances()) == 1 and len(fake.launch_bodies) == 1


async def test_unreachable_cloud_is_transient(http: httpx.AsyncClient) -> None:
    provider = TensorDockProvider(
        api_key="td_KEYKEYKEY123", http=http, base_url="http://127.0.0.1:9", timeout_s=2
    )
    with pytest.raises(ProviderTransientError) as caught:
        await provider.list_offers(OfferQuery())
    assert_no_key(caught.value, "td_KEYKEYKEY123")


# ---- a cloud that echoes the key back ------------------------------------------------------


def _echoing_cloud(received: list[tuple[str, str]]) -> Starlette:
    async def echo(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        received.append((request.url.netloc, auth))
        path = request.url.path
        if path.endswith("/locations"):
            return PlainTextResponse(f"bad header {auth}", status_code=400)
        if path.endswith("/instances"):
            return JSONResponse({"error": f"token {auth} is out of credit", "status": 402})
        return JSONResponse({"error": f"who is {auth}?", "status": 401}, status_code=401)

    return Starlette(routes=[Route("/api/v2/{rest:path}", echo, methods=["GET", "POST", "DELETE"])])


async def test_the_key_is_redacted_from_echoed_error_bodies(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    key = "td_SECRETSECRET0123456789"
    caplog.set_level(logging.DEBUG)
    with serve_app(_echoing_cloud([])) as url:
        provider = TensorDockProvider(api_key=key, http=http, base_url=url, timeout_s=5)
        errors: list[ProviderError] = []
        for call, error in (
            (lambda: provider.list_offers(OfferQuery()), ProviderBadRequestError),
            (provider.list_instances, QuotaError),
            (lambda: provider.get_instance("abc"), ProviderAuthError),
        ):
            with pytest.raises(error) as caught:
                await call()
            errors.append(caught.value)
    for exc in errors:
        assert_no_key(exc, key)
        assert "****" in exc.message
    assert key not in caplog.text


async def test_a_next_page_link_to_another_host_is_not_followed(
    fake: FakeTensorDockCloud, http: httpx.AsyncClient
) -> None:
    elsewhere: list[tuple[str, str]] = []

    async def first_page(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "data": [{"id": "1", "name": "hg-a", "status": "running"}],
                "links": {"next": other_url + "/api/v2/x"},
            }
        )

    with serve_app(_echoing_cloud(elsewhere)) as other_url:
        app = Starlette(routes=[Route("/api/v2/instances", first_page)])
        with serve_app(app) as url:
            provider = TensorDockProvider(api_key=fake.api_key, http=http, base_url=url, timeout_s=5)
            assert [i.name for i in await provider.list_instances()] == ["hg-a"]
    assert elsewhere == []


async def test_terminate_accepts_an_already_deleted_answer_in_any_style(http: httpx.AsyncClient) -> None:
    async def already_gone(request: Request) -> Response:
        if request.path_params["iid"] == "text":
            return PlainTextResponse("Instance already terminated", status_code=400)
        return JSONResponse({"error": "Instance not found", "status": 404})

    app = Starlette(routes=[Route("/api/v2/instances/{iid}", already_gone, methods=["DELETE"])])
    with serve_app(app) as url:
        provider = TensorDockProvider(api_key="td_KEYKEYKEY123", http=http, base_url=url, timeout_s=5)
        await provider.terminate("text")
        await provider.terminate("json")


async def test_an_echoed_key_is_redacted_when_it_was_configured_with_a_newline(
    http: httpx.AsyncClient,
) -> None:
    key = "td_SECRETSECRET0123456789"
    with serve_app(_echoing_cloud([])) as url:
        provider = TensorDockProvider(api_key=key + "\n", http=http, base_url=url, timeout_s=5)
        with pytest.raises(ProviderBadRequestError) as caught:
            await provider.list_offers(OfferQuery())
    assert_no_key(caught.value, key)
    assert "****" in caught.value.message
