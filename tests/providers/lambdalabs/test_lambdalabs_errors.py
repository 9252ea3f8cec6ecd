"""Failure handling: every injected fault, 429s, timeouts and ambiguous creates, key hygiene."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
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
from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.lambdalabs.client import (
    LambdaDuplicateError,
    LambdaNotFoundError,
    classify_error,
    parse_error_body,
    parse_retry_after,
)
from harvestgpu.providers.types import OfferQuery
from tests.fakes.http_server import serve_app
from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.providers.lambdalabs.conftest import launch_spec, offer_for


def assert_key_absent(error: BaseException, key: str) -> None:
    for text in (str(error), repr(error), getattr(error, "message", ""), repr(error.args)):
        assert key not in text


async def run_op(op: str, provider: LambdaProvider, fake: FakeLambdaCloud) -> Callable[[], Awaitable[Any]]:
    """Arrange what the op needs (before arming the fault), then return the call to make."""
    if op == "validate":
        return provider.validate_key
    if op == "offers":
        return lambda: provider.list_offers(OfferQuery())
    if op == "launch":
        spec = launch_spec(await offer_for(provider, "H100-PCIE"))
        return lambda: provider.launch(spec)
    instance_id = fake.plant("hg-job-faults")
    if op == "get":
        return lambda: provider.get_instance(instance_id)
    if op == "terminate":
        return lambda: provider.terminate(instance_id)
    return provider.list_instances


CALLING_OPS = ("validate", "offers", "launch", "get", "terminate", "list")
FAULT_CASES = [
    *[(op, "auth", ProviderAuthError, "global/invalid-api-key") for op in CALLING_OPS],
    # An inactive account (no verified payment method) is a billing stop, not a bad key.
    *[(op, "balance", QuotaError, "global/account-inactive") for op in CALLING_OPS],
    *[(op, "server_error", ProviderTransientError, "global/internal-error") for op in CALLING_OPS],
    ("launch", "no_capacity", NoCapacityError, "instance-operations/launch/insufficient-capacity"),
]


@pytest.mark.parametrize(("op", "fault", "expected", "code"), FAULT_CASES)
async def test_each_fault_maps_to_its_error_class_without_the_key(
    fake: FakeLambdaCloud,
    provider: LambdaProvider,
    op: str,
    fault: str,
    expected: type[ProviderError],
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    call = await run_op(op, provider, fake)
    fake.fail_next(op, fault)

    with pytest.raises(expected) as caught:
        await call()

    assert type(caught.value) is expected
    assert code in caught.value.message
    assert caught.value.provider == "lambda"
    assert_key_absent(caught.value, fake.api_key)
    assert fake.api_key not in caplog.text
    if op == "launch":
        assert fake.instances() == {}


def chain_text(error: BaseException) -> str:
    """Everything an exception chain could show: messages, reprs and formatted tracebacks."""
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    "bad_key",
    [
        "secret_ab\ncd_0123456789.tok",
        "secret_ab\r\ncd_0123.tok",
        "secret_caf\u00e9_0123456789.tok",
        "secret_\x00_nul.tok",
    ],
)
async def test_a_key_unfit_for_a_header_is_an_auth_error_and_never_sent(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient, bad_key: str
) -> None:
    provider = LambdaProvider(api_key=bad_key, http=http, base_url=fake_url)
    spec = launch_spec(
        await offer_for(LambdaProvider(api_key=fake.api_key, http=http, base_url=fake_url), "A10")
    )
    seen_before = len(fake.requests_seen)
    calls = [
        provider.validate_key,
        provider.list_instances,
        lambda: provider.get_instance("0920582c7ff041399e34823a0be62549"),
        lambda: provider.terminate("0920582c7ff041399e34823a0be62549"),
        lambda: provider.launch(spec),
    ]

    for call in calls:
        with pytest.raises(ProviderAuthError) as caught:
            await call()
        text = chain_text(caught.value)
        for spelling in (bad_key, repr(bad_key)[1:-1], bad_key.encode("unicode_escape").decode()):
            assert spelling not in text
        for fragment in re.split(r"[^\x21-\x7e]", bad_key):  # nor any printable run of it
            assert len(fragment) < 6 or fragment not in text

    assert len(fake.requests_seen) == seen_before


async def test_surrounding_whitespace_is_trimmed_before_the_header_is_built(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    provider = LambdaProvider(api_key=f" {fake.api_key}\n", http=http, base_url=fake_url)

    assert (await provider.validate_key()).valid

    assert fake.requests_seen[-1][2]["authorization"] == f"Bearer {fake.api_key}"


@pytest.mark.parametrize("blank", ["", "  ", "\n"])
async def test_a_blank_key_is_an_auth_error_without_a_request(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient, blank: str
) -> None:
    provider = LambdaProvider(api_key=blank, http=http, base_url=fake_url)

    with pytest.raises(ProviderAuthError):
        await provider.validate_key()

    assert fake.requests_seen == []


@pytest.mark.parametrize("op", ["validate", "offers", "get", "terminate", "list"])
async def test_slow_answers_beyond_the_timeout_are_transient(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient, op: str
) -> None:
    provider = LambdaProvider(api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=0.25)
    call = await run_op(op, provider, fake)
    fake.fail_next(op, "slow", delay_s=1.0)

    with pytest.raises(ProviderTransientError) as caught:
        await call()

    assert not isinstance(caught.value, RateLimitedError)
    assert "0.25 s" in caught.value.message
    assert_key_absent(caught.value, fake.api_key)


async def test_slow_create_raises_then_relaunch_finds_the_late_instance(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    provider = LambdaProvider(api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=0.25)
    spec = launch_spec(await offer_for(provider, "H100-SXM"))
    fake.fail_next("launch", "slow", delay_s=0.75)

    with pytest.raises(ProviderTransientError):
        await provider.launch(spec)

    deadline = time.monotonic() + 5
    while not fake.instances():
        assert time.monotonic() < deadline, "the slow launch never completed at the fake"
        await asyncio.sleep(0.02)
    relaunched = await provider.launch(spec)
    assert list(fake.instances()) == [relaunched.instance_id]
    assert len(fake.launch_bodies) == 1


async def test_create_then_fail_returns_the_instance_lambda_created(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    spec = launch_spec(await offer_for(provider, "A100-80GB-SXM"))
    fake.fail_next("launch", "create_then_fail")

    instance = await provider.launch(spec)

    assert list(fake.instances()) == [instance.instance_id]
    assert instance.name == spec.name
    assert len(fake.launch_bodies) == 1


async def test_server_error_on_create_without_an_instance_stays_an_error(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    spec = launch_spec(await offer_for(provider, "A100-80GB-SXM"))
    fake.fail_next("launch", "server_error")

    with pytest.raises(ProviderTransientError):
        await provider.launch(spec)

    assert fake.instances() == {}
    list_calls = [p for m, p, _ in fake.requests_seen if (m, p) == ("GET", "/api/v1/instances")]
    assert len(list_calls) == 2  # the idempotency check, then the look-up after the 500


def _odd_lambda(captured_key: list[str]) -> Starlette:
    """A misbehaving Lambda: echoes the Authorization header and asks for a 30 s wait."""

    async def echo(request: Request) -> JSONResponse:
        captured_key.append(request.headers["authorization"])
        message = f"Bad header {request.headers['authorization']}"
        return JSONResponse({"error": {"code": "global/invalid-parameters", "message": message}}, 400)

    async def slow_down(request: Request) -> PlainTextResponse:
        return PlainTextResponse("", status_code=429, headers={"Retry-After": "30"})

    return Starlette(
        routes=[
            Route("/api/v1/instance-types", echo, methods=["GET"]),
            Route("/api/v1/instances", slow_down, methods=["GET"]),
        ]
    )


async def test_echoed_keys_are_redacted_and_long_retry_after_is_not_waited(http: httpx.AsyncClient) -> None:
    key = "secret_echo_0123456789abcdef.tok"
    seen: list[str] = []
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    with serve_app(_odd_lambda(seen)) as url:
        provider = LambdaProvider(api_key=key, http=http, base_url=url)
        provider.client.sleep = record_wait
        with pytest.raises(ProviderBadRequestError) as bad:
            await provider.validate_key()
        with pytest.raises(RateLimitedError) as limited:
            await provider.list_instances()

    assert seen == [f"Bearer {key}"]
    assert "****" in bad.value.message
    assert_key_absent(bad.value, key)
    assert limited.value.retry_after == 30.0 and waits == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": {"code": "global/quota-exceeded", "message": "Quota exceeded."}}, QuotaError),
        (403, {"error": {"code": "global/invalid-address", "message": "Bad address."}}, QuotaError),
        (403, {"error": {"code": "global/forbidden", "message": "No."}}, ProviderAuthError),
        (404, {"error": {"code": "global/object-does-not-exist", "message": "Gone."}}, LambdaNotFoundError),
        (409, {"error": {"code": "global/duplicate", "message": "Taken."}}, LambdaDuplicateError),
        (
            503,
            {"error": {"code": "provider/internal-unavailable", "message": "Provider unavailable"}},
            ProviderTransientError,
        ),
        (
            400,
            {"error": {"code": "provider/internal-unavailable", "message": "Provider unavailable"}},
            ProviderTransientError,
        ),
        (
            400,
            {"error": {"code": "instance-operations/launch/file-system-in-wrong-region", "message": "x"}},
            ProviderBadRequestError,
        ),
        (502, "<html>Bad gateway</html>", ProviderTransientError),
        (429, "", RateLimitedError),
    ],
)
def test_error_bodies_classify_by_code_and_status(
    status: int, body: Any, expected: type[ProviderError]
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    error = classify_error(status, parse_error_body(status, text), api_key="secret_unit")
    assert type(error) is expected
    assert error.status == status


def test_field_errors_are_named_in_the_message() -> None:
    body = (
        '{"error": {"code": "global/invalid-parameters", "message": "Invalid request data."},'
        ' "field_errors": {"instance_type_name": {"code": "global/invalid-parameters",'
        ' "message": "Unknown instance type: gpu_1x_typo"}}}'
    )
    error = classify_error(400, parse_error_body(400, body), api_key="k" * 20)
    assert isinstance(error, ProviderBadRequestError)
    assert "instance_type_name: Unknown instance type: gpu_1x_typo" in error.message


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(formatdate(now + 4, usegmt=True), now=now) == pytest.approx(4, abs=1)
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
