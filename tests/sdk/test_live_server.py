"""The SDK against the real server process (mock provider, 5-second jobs)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harvestgpu import (
    APIError,
    AsyncHarvestGPU,
    AuthenticationError,
    ConflictError,
    HarvestGPU,
    InvalidRequestError,
    NoCapacityError,
    NotFoundError,
    RateLimitError,
)
from tests.sdk.live_server import TEST_PASSWORD, Account, LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def gpu(live_server: LiveServer, account: Account) -> Iterator[HarvestGPU]:
    with HarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as client:
        yield client


def test_spec_sdk_snippet_runs_as_written(
    live_server: LiveServer,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HARVESTGPU_BASE_URL", live_server.base_url)
    # ---- SPEC "Python SDK", verbatim apart from the key ----
    from harvestgpu import HarvestGPU

    gpu = HarvestGPU(api_key=account.api_key)
    # Submit a job - routes to cheapest provider
    job = gpu.run(
        gpu="H100",
        image="pytorch/pytorch:latest",
        command="python train.py",
        budget_max=2.50,
    )
    print(job.status)  # "running"
    print(job.provider)  # "mock" (or real provider)
    print(job.cost_per_hour)  # 2.86
    # List your jobs
    jobs = gpu.jobs()
    for j in jobs:
        print(f"{j.id}: {j.gpu_type} on {j.provider} - {j.status}")
    # Get current GPU pricing
    pricing = gpu.pricing()
    for p in pricing:
        print(f"{p.gpu_model}: ${p.price}/hr via {p.provider}")
    # Stop a job
    job.stop()
    # Get logs
    logs = job.logs()
    print(logs)
    # ---- end of snippet ----
    printed = capsys.readouterr().out.splitlines()

    assert printed[0] == "running"
    assert printed[1] == "mock"
    assert float(printed[2]) <= 2.50  # the cap wins over the 2.86 in the comment
    assert printed[3] == f"{job.id}: {job.gpu_type} on mock - running"
    assert job.gpu_type is not None and job.gpu_type.startswith("H100")
    assert "H100-SXM: $2.86/hr via mock" in printed
    assert job.status == "stopped"
    assert isinstance(logs, str)


def _register_again(gpu: HarvestGPU, account: Account) -> Any:
    return gpu.auth.register(account.email, TEST_PASSWORD)


def _wrong_key(gpu: HarvestGPU, account: Account) -> Any:
    with HarvestGPU(api_key="hg_live_not_a_real_key_000000", base_url=gpu.base_url) as stranger:
        return stranger.auth.me()


@pytest.mark.parametrize(
    ("error_class", "status", "call"),
    [
        (InvalidRequestError, 400, lambda gpu, account: gpu.run(gpu="H9000")),
        (AuthenticationError, 401, _wrong_key),
        (NotFoundError, 404, lambda gpu, account: gpu.job("no-such-job")),
        (ConflictError, 409, _register_again),
        (NoCapacityError, 503, lambda gpu, account: gpu.run(gpu="H100", budget_max=0.01)),
    ],
    ids=["400", "401", "404", "409", "503"],
)
def test_every_error_class_comes_from_its_real_status(
    gpu: HarvestGPU,
    account: Account,
    error_class: type[APIError],
    status: int,
    call: Callable[[HarvestGPU, Account], Any],
) -> None:
    with pytest.raises(error_class) as caught:
        call(gpu, account)

    assert caught.value.status == status
    assert caught.value.message
    assert caught.value.request_id


def test_provider_gpus_lists_one_providers_offers(live_server: LiveServer) -> None:
    with HarvestGPU(base_url=live_server.base_url) as anonymous:
        mock = anonymous.provider_gpus("mock")
        runpod = anonymous.provider_gpus("runpod")
        with pytest.raises(NotFoundError, match="Unknown provider 'aws'"):
            anonymous.provider_gpus("aws")
        mock_prices = [p for p in anonymous.pricing() if p.provider == "mock"]

    assert isinstance(mock, list) and mock
    assert {p.provider for p in mock} == {"mock"}
    assert {p.gpu_model for p in mock} == {p.gpu_model for p in mock_prices}
    assert (mock.provider, mock.connected, mock.error) == ("mock", True, None)
    assert (runpod, runpod.provider, runpod.connected) == ([], "runpod", False)


@pytest.mark.parametrize("padding", ["\n", "\r\n", " "], ids=["lf", "crlf", "space"])
def test_a_pasted_key_with_a_line_break_still_works(
    live_server: LiveServer, account: Account, padding: str
) -> None:
    with HarvestGPU(api_key=account.api_key + padding, base_url=live_server.base_url) as gpu:
        assert gpu.auth.me().email == account.email


def test_a_key_that_cannot_be_sent_fails_locally_without_showing_it(
    live_server: LiveServer, account: Account
) -> None:
    with HarvestGPU(api_key=account.api_key + "é", base_url=live_server.base_url) as gpu:
        with pytest.raises(AuthenticationError) as caught:
            gpu.auth.me()

    assert "API key cannot be sent" in caught.value.message
    assert account.api_key not in str(caught.value) + repr(caught.value)


def test_non_finite_numbers_are_invalid_requests(gpu: HarvestGPU) -> None:
    with pytest.raises(InvalidRequestError, match="budget_max"):
        gpu.run(gpu="T4", budget_max=float("inf"))
    with pytest.raises(InvalidRequestError, match="amount"):
        gpu.set_billing_limit(float("nan"))

    assert gpu.billing_limit().monthly_limit is None
    assert list(gpu.jobs()) == []


def test_no_capacity_explains_itself(gpu: HarvestGPU) -> None:
    with pytest.raises(NoCapacityError, match="No providers available"):
        gpu.run(gpu="H100", budget_max=0.01)


@pytest.mark.skipif(
    importlib.util.find_spec("harvestgpu.server.ratelimit") is None,
    reason="the server has no rate limiter yet",
)
def test_rate_limit_error_comes_from_a_real_429(live_server: LiveServer, account: Account) -> None:
    # Free plan: 60 requests a minute (SPEC "Rate Limits"); 130 calls exceed it even if they
    # straddle two fixed windows. Retries are off so the 429 surfaces at once.
    with HarvestGPU(api_key=account.api_key, base_url=live_server.base_url, max_retries=0) as gpu:
        with pytest.raises(RateLimitError) as caught:
            for _ in range(130):
                gpu.providers()
                list(gpu.jobs(limit=1))

    assert caught.value.status == 429
    assert caught.value.retry_after is not None


def test_following_logs_streams_the_whole_log_until_the_job_ends(gpu: HarvestGPU) -> None:
    job = gpu.run(gpu="H100", command="python train.py")

    followed = list(job.logs(follow=True))

    assert followed
    assert (job.status, job.exit_code) == ("completed", 0)
    assert followed == job.logs().split("\n")


def test_resubmitting_with_the_same_idempotency_key(gpu: HarvestGPU) -> None:
    first = gpu.run(gpu="H100", command="echo once", idempotency_key="nightly-run-1")
    again = gpu.run(gpu="H100", command="echo once", idempotency_key="nightly-run-1")

    assert again.id == first.id
    with pytest.raises(ConflictError):
        gpu.run(gpu="A100", command="echo other", idempotency_key="nightly-run-1")
    first.stop()


def test_provider_keys_round_trip_without_ever_returning_the_key(gpu: HarvestGPU) -> None:
    secret = "rp_live_SECRET_provider_key_4321"

    added = gpu.provider_keys.add("runpod", secret, label="My RunPod")
    listed = gpu.provider_keys.list()
    tested = gpu.provider_keys.test("runpod")
    gpu.provider_keys.remove("runpod")

    assert (added.provider, added.label, added.last4) == ("runpod", "My RunPod", "4321")
    assert [key.provider for key in listed] == ["runpod"]
    assert secret not in repr(listed) + repr(added) + repr(tested)
    assert tested.provider == "runpod"
    assert tested.valid is False  # a made-up key: unreachable or rejected, never valid
    assert gpu.provider_keys.list() == []


def test_api_keys_create_list_revoke(live_server: LiveServer, gpu: HarvestGPU) -> None:
    created = gpu.api_keys.create("ci")

    with HarvestGPU(api_key=created.api_key, base_url=live_server.base_url) as ci:
        assert ci.auth.me().email
        assert created.id in [key.id for key in gpu.api_keys.list()]
        gpu.api_keys.revoke(created.id)
        with pytest.raises(AuthenticationError):
            ci.auth.me()


async def test_async_client_runs_follows_and_stops(live_server: LiveServer, account: Account) -> None:
    async with AsyncHarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as gpu:
        job = await gpu.run(gpu="H100", command="python train.py")
        assert job.status == "running"

        lines = []
        async for line in job.logs(follow=True):
            lines.append(line)
            if len(lines) == 1:
                await (await gpu.job(job.id)).stop()

        listed = [j.id async for j in gpu.jobs(status="stopped")]

    assert lines
    assert job.status == "stopped"
    assert job.id in listed
