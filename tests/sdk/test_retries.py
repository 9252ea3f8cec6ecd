"""Retries: which failures are retried, how long the client waits, and why a retry never launches twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harvestgpu import APIConnectionError, HarvestGPU, NoCapacityError, RateLimitError
from tests.sdk.scripted import FakeClock, Script, fail, job_json, ok

MakeClient = Callable[..., HarvestGPU]


class IdempotentJobServer:
    """Creates one job per Idempotency-Key, like the real server; can lose the first answers."""

    def __init__(self, lost_answers: int = 0) -> None:
        self.lost_answers = lost_answers
        self.jobs_by_key: dict[str, dict[str, Any]] = {}
        self.keys_seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/api/v1/jobs")
        key = request.headers["Idempotency-Key"]
        self.keys_seen.append(key)
        job = self.jobs_by_key.setdefault(key, job_json(f"job-{len(self.jobs_by_key) + 1}"))
        if self.lost_answers:
            self.lost_answers -= 1
            raise httpx.ReadError("Connection reset by peer")
        return ok(job, 201)


def test_429_waits_exactly_the_retry_after_then_succeeds(make_client: MakeClient, clock: FakeClock) -> None:
    script = Script(fail(429, "Rate limit exceeded", {"Retry-After": "7"}), ok(job_json()))
    client = make_client(script)

    job = client.job("job-1")

    assert job.id == "job-1"
    assert len(script.requests) == 2
    assert clock.sleeps == [7.0]


def test_503_is_retried_with_growing_jittered_backoff(make_client: MakeClient, clock: FakeClock) -> None:
    script = Script(fail(503, "Service Unavailable"), fail(503, "Service Unavailable"), ok(job_json()))
    client = make_client(script)

    assert client.job("job-1").status == "running"

    assert len(script.requests) == 3
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_on_reads_are_retried(make_client: MakeClient, status: int) -> None:
    script = Script(httpx.Response(status, text="Bad gateway"), ok({"providers": []}))
    client = make_client(script)

    assert client.providers() == []
    assert len(script.requests) == 2


def test_connection_reset_during_submit_creates_one_job(make_client: MakeClient) -> None:
    server = IdempotentJobServer(lost_answers=1)
    client = make_client(server)

    job = client.run(gpu="H100", command="python train.py")

    assert len(server.keys_seen) == 2
    assert server.keys_seen[0] == server.keys_seen[1]
    assert len(server.jobs_by_key) == 1
    assert job.id == "job-1"


def test_submit_keeps_one_idempotency_key_and_body_across_every_kind_of_retry(
    make_client: MakeClient,
) -> None:
    script = Script(
        httpx.ReadError("Connection reset by peer"),
        fail(503, "Service Unavailable"),
        fail(429, "Rate limit exceeded", {"Retry-After": "1"}),
        ok(job_json(), 201),
    )
    client = make_client(script, max_retries=3)

    client.run(gpu="H100", budget_max=2.5)

    keys = {request.headers["Idempotency-Key"] for request in script.requests}
    bodies = {request.content for request in script.requests}
    assert len(script.requests) == 4
    assert len(keys) == 1
    assert len(bodies) == 1


def test_each_run_call_gets_its_own_key(make_client: MakeClient) -> None:
    server = IdempotentJobServer()
    client = make_client(server)

    first = client.run(gpu="H100")
    second = client.run(gpu="H100")

    assert first.id != second.id
    assert len(set(server.keys_seen)) == 2


def test_a_given_idempotency_key_is_sent_and_returns_the_same_job(make_client: MakeClient) -> None:
    server = IdempotentJobServer()
    client = make_client(server)

    first = client.run(gpu="H100", idempotency_key="nightly-2026-04-14")
    again = client.run(gpu="H100", idempotency_key="nightly-2026-04-14")

    assert server.keys_seen == ["nightly-2026-04-14", "nightly-2026-04-14"]
    assert first.id == again.id


def test_no_providers_available_is_a_final_answer(make_client: MakeClient, clock: FakeClock) -> None:
    message = "No providers available for H100 x1 under $0.50/h: 9 over budget (cheapest $2.39/h)"
    script = Script(fail(503, message))
    client = make_client(script)

    with pytest.raises(NoCapacityError) as caught:
        client.run(gpu="H100", budget_max=0.5)

    assert caught.value.message == message
    assert len(script.requests) == 1
    assert clock.sleeps == []


def test_gives_up_after_max_retries(make_client: MakeClient) -> None:
    script = Script(*[fail(503, "Service Unavailable") for _ in range(3)])
    client = make_client(script, max_retries=2)

    with pytest.raises(NoCapacityError):
        client.job("job-1")

    assert len(script.requests) == 3


def test_max_retries_zero_sends_once(make_client: MakeClient) -> None:
    script = Script(fail(503, "Service Unavailable"))
    client = make_client(script, max_retries=0)

    with pytest.raises(NoCapacityError):
        client.job("job-1")

    assert len(script.requests) == 1


def test_a_retry_after_longer_than_a_minute_is_left_to_the_caller(make_client: MakeClient) -> None:
    script = Script(fail(429, "Job limit reached for this hour", {"Retry-After": "1800"}))
    client = make_client(script)

    with pytest.raises(RateLimitError) as caught:
        client.run(gpu="H100")

    assert caught.value.retry_after == 1800
    assert len(script.requests) == 1


def test_creating_an_api_key_is_not_resent_after_a_lost_answer(make_client: MakeClient) -> None:
    script = Script(httpx.ReadError("Connection reset by peer"))
    client = make_client(script)

    with pytest.raises(APIConnectionError):
        client.api_keys.create("ci")

    assert len(script.requests) == 1


def test_creating_an_api_key_is_retried_when_the_request_never_left(make_client: MakeClient) -> None:
    created = {
        "id": "k1",
        "name": "ci",
        "prefix": "hg_live_ab",
        "api_key": "hg_live_abcdef123456",
        "created_at": "2026-04-14T12:00:00Z",
    }
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"), ok(created, 201))
    client = make_client(script)

    assert client.api_keys.create("ci").id == "k1"
    assert [json.loads(request.content) for request in script.requests] == [{"name": "ci"}, {"name": "ci"}]
