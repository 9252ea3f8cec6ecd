"""429s: Lambda allows one launch per 12 s and about one other request per second; whether a 429
carries Retry-After is UNCONFIRMED, so the fake sends it only when told to (lambda-tensordock.md
1.2, 1.12). Without it a launch must report at least 12 s and anything else at least 10 s."""

from __future__ import annotations

import httpx
import pytest

from harvestgpu.providers.errors import RateLimitedError
from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.lambdalabs.client import LAUNCH_RETRY_AFTER_S, RETRY_AFTER_S
from harvestgpu.providers.types import OfferQuery
from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.providers.lambdalabs.conftest import launch_spec, offer_for


class FakeTime:
    """Stands in for the client's sleep and clock: sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(provider: LambdaProvider) -> FakeTime:
    fake_time = FakeTime()
    provider.client.sleep = fake_time.sleep
    provider.client.clock = fake_time.clock
    return fake_time


def instance_type_calls(fake: FakeLambdaCloud) -> int:
    return [p for _, p, _ in fake.requests_seen].count("/api/v1/instance-types")


async def test_rate_limited_reads_wait_as_told_then_succeed(
    fake: FakeLambdaCloud, provider: LambdaProvider, fake_time: FakeTime
) -> None:
    fake.rate_limit_retry_after_s = 1
    fake.fail_next("offers", "rate_limit", times=2)

    offers = await provider.list_offers(OfferQuery())

    assert offers
    assert fake_time.waits == [1.0, 1.0]  # the fake's Retry-After
    assert instance_type_calls(fake) == 3


async def test_rate_limited_reads_without_retry_after_back_off_then_succeed(
    fake: FakeLambdaCloud, provider: LambdaProvider, fake_time: FakeTime
) -> None:
    fake.fail_next("offers", "rate_limit", times=2)

    assert await provider.list_offers(OfferQuery())

    assert fake_time.waits == [1.0, 2.0]
    assert instance_type_calls(fake) == 3


async def test_rate_limit_that_persists_with_retry_after_raises_it(
    fake: FakeLambdaCloud, provider: LambdaProvider, fake_time: FakeTime
) -> None:
    fake.rate_limit_retry_after_s = 1
    instance_id = fake.plant("hg-job-429")
    fake.fail_next("get", "rate_limit", times=3)

    with pytest.raises(RateLimitedError) as caught:
        await provider.get_instance(instance_id)

    assert caught.value.retry_after == 1.0
    assert fake_time.waits == [1.0, 1.0]
    assert fake.api_key not in str(caught.value)


async def test_rate_limit_that_persists_without_retry_after_reports_ten_seconds(
    fake: FakeLambdaCloud, provider: LambdaProvider, fake_time: FakeTime
) -> None:
    instance_id = fake.plant("hg-job-429-bare")
    fake.fail_next("get", "rate_limit", times=3)

    with pytest.raises(RateLimitedError) as caught:
        await provider.get_instance(instance_id)

    assert caught.value.retry_after == RETRY_AFTER_S == 10.0
    assert "retry in 10 s" in caught.value.message
    assert fake_time.waits == [1.0, 2.0]


async def test_rate_limit_with_real_waiting_recovers(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    instance_id = fake.plant("hg-job-429-real")
    fake.fail_next("list", "rate_limit")

    found = await provider.list_instances()

    assert [i.instance_id for i in found] == [instance_id]


@pytest.mark.parametrize(("header", "expected"), [(None, LAUNCH_RETRY_AFTER_S), (3, 3.0)])
async def test_rate_limited_launch_is_not_retried_and_reports_the_launch_limit(
    fake: FakeLambdaCloud,
    provider: LambdaProvider,
    fake_time: FakeTime,
    header: int | None,
    expected: float,
) -> None:
    fake.rate_limit_retry_after_s = header
    spec = launch_spec(await offer_for(provider, "L40S"))
    fake.fail_next("launch", "rate_limit")

    with pytest.raises(RateLimitedError) as caught:
        await provider.launch(spec)

    assert caught.value.retry_after == expected
    assert fake_time.waits == []
    assert len(fake.launch_bodies) == 1 and fake.instances() == {}
    relaunched = await provider.launch(spec)
    assert list(fake.instances()) == [relaunched.instance_id]


@pytest.mark.parametrize(("header", "waits", "retry_after"), [(None, [1.0], 10.0), (2, [], 2.0)])
async def test_in_process_waits_stay_within_the_call_timeout(
    fake: FakeLambdaCloud,
    fake_url: str,
    http: httpx.AsyncClient,
    header: int | None,
    waits: list[float],
    retry_after: float,
) -> None:
    bounded = LambdaProvider(api_key=fake.api_key, http=http, base_url=fake_url, timeout_s=2.5)
    fake_time = FakeTime()
    bounded.client.sleep, bounded.client.clock = fake_time.sleep, fake_time.clock
    fake.rate_limit_retry_after_s = header
    fake.fail_next("list", "rate_limit", times=3)

    with pytest.raises(RateLimitedError) as caught:
        await bounded.list_instances()

    # A wait is only taken if the retried request still has a second of the 2.5 s left.
    assert fake_time.waits == waits
    assert fake_time.now + 1.0 <= 2.5
    assert caught.value.retry_after == retry_after
