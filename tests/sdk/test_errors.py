"""Every error answer becomes the matching exception, with status, message and request id."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harvestgpu import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    HarvestGPU,
    HarvestGPUError,
    InvalidRequestError,
    NoCapacityError,
    NotFoundError,
    RateLimitError,
)
from tests.sdk.scripted import Script, fail

MakeClient = Callable[..., HarvestGPU]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (503, NoCapacityError),
        (500, APIError),
    ],
)
def test_each_error_status_raises_its_class(
    make_client: MakeClient, status: int, error_class: type[APIError]
) -> None:
    client = make_client(Script(fail(status, "Something specific went wrong")), max_retries=0)

    with pytest.raises(error_class) as caught:
        client.job("job-1")

    error = caught.value
    assert type(error) is error_class
    assert isinstance(error, HarvestGPUError)
    assert error.status == status
    assert error.message == "Something specific went wrong"
    assert error.request_id == f"req-{status}"
    assert "Something specific went wrong" in str(error)
    assert f"req-{status}" in str(error)


def test_rate_limit_error_carries_retry_after(make_client: MakeClient) -> None:
    client = make_client(Script(fail(429, "Slow down", {"Retry-After": "3600"})))

    with pytest.raises(RateLimitError) as caught:
        client.job("job-1")

    assert caught.value.retry_after == 3600


def test_non_envelope_error_still_raises_with_the_status(make_client: MakeClient) -> None:
    gateway_page = httpx.Response(500, text="<html><body>Internal Server Error</body></html>")
    client = make_client(Script(gateway_page))

    with pytest.raises(APIError) as caught:
        client.job("job-1")

    assert caught.value.status == 500
    assert "Internal Server Error" in caught.value.message


def test_success_without_envelope_is_reported_not_crashed(make_client: MakeClient) -> None:
    client = make_client(Script(httpx.Response(200, json={"id": "job-1"})))

    with pytest.raises(APIError, match="not a HarvestGPU envelope"):
        client.job("job-1")


def test_unexpected_data_shape_is_an_api_error(make_client: MakeClient) -> None:
    client = make_client(Script(httpx.Response(200, json={"status": "ok", "data": {"id": 1}})))

    with pytest.raises(APIError, match="Unexpected answer from GET /api/v1/jobs/job-1"):
        client.job("job-1")


def test_unreachable_server_is_a_connection_error(make_client: MakeClient) -> None:
    client = make_client(Script(httpx.ConnectError("[Errno 111] Connection refused")), max_retries=0)

    with pytest.raises(APIConnectionError, match=r"Could not reach HarvestGPU at http://hg\.test"):
        client.pricing()


def test_missing_key_fails_before_any_request(make_client: MakeClient) -> None:
    script = Script()
    client = make_client(script, api_key=None)

    with pytest.raises(AuthenticationError, match="HARVESTGPU_API_KEY"):
        client.job("job-1")

    assert script.requests == []
