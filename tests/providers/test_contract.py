"""One contract, every adapter: the same scenarios against each cloud's fake (real sockets).

Per-adapter suites check wire details; this one checks what the job engine relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from harvestgpu.providers import registry
from harvestgpu.providers.base import Provider, instance_name
from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderAuthError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
)
from harvestgpu.providers.types import InstanceState, LaunchSpec, OfferQuery
from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import serve_app
from tests.support import wait_for


@pytest.fixture(params=sorted(FAKE_CLOUDS))
def fake(request: pytest.FixtureRequest) -> Any:
    return FAKE_CLOUDS[request.param]()


@pytest.fixture
def base_url(fake: Any) -> Iterator[str]:
    with serve_app(fake.app()) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def adapter(
    fake: Any, base_url: str, http: httpx.AsyncClient, key: str | None = None, timeout_s: float = 5.0
) -> Provider:
    cls = registry.provider_class(fake.slug)
    provider = cls(api_key=key or fake.api_key, http=http, base_url=base_url, timeout_s=timeout_s)
    if hasattr(provider, "log_idle_s"):
        provider.log_idle_s = 0.2
    return provider


async def spec_for(provider: Provider, job_id: str, gpu: str = "H100-SXM") -> LaunchSpec:
    offers = [o for o in await provider.list_offers(OfferQuery()) if o.gpu_model == gpu and o.available]
    offer = min(offers, key=lambda o: (o.gpu_count, o.price_per_hour))
    return LaunchSpec(
        job_id=job_id,
        name=instance_name(job_id),
        offer=offer,
        image="pytorch/pytorch:latest",
        command="python train.py",
        env={"HARVESTGPU_JOB_ID": job_id},
        ssh_public_key="ssh-ed25519 AAAAC3Nz test",
    )


def assert_no_key(fake: Any, exc: BaseException) -> None:
    assert fake.api_key not in str(exc) and fake.api_key not in repr(exc)


async def test_key_validation(fake: Any, base_url: str, http: httpx.AsyncClient) -> None:
    assert (await adapter(fake, base_url, http).validate_key()).valid is True
    wrong = "wrong-" + fake.api_key[::-1]
    with pytest.raises(ProviderAuthError) as info:
        await adapter(fake, base_url, http, key=wrong).validate_key()
    assert wrong not in str(info.value)


async def test_offers_are_catalog_models_priced_per_instance(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    offers = await adapter(fake, base_url, http).list_offers(OfferQuery())
    models = {o.gpu_model for o in offers}
    assert {"H100-SXM", "H100-PCIE", "A100-80GB-SXM", "L40S", "RTX-4090", "RTX-A6000"} <= models
    for o in offers:
        assert o.provider == fake.slug and o.price_per_hour > 0 and o.gpu_count >= 1 and o.vram_gb > 0
    one = [o for o in offers if o.gpu_model == "H100-SXM" and o.gpu_count == 1]
    more = [o for o in offers if o.gpu_model == "H100-SXM" and o.gpu_count > 1]
    if one and more:
        assert min(o.price_per_hour for o in more) > min(o.price_per_hour for o in one)


async def test_launch_is_idempotent_on_the_name(fake: Any, base_url: str, http: httpx.AsyncClient) -> None:
    provider = adapter(fake, base_url, http)
    spec = await spec_for(provider, "contract1")
    first = await provider.launch(spec)
    second = await provider.launch(spec)
    assert first.instance_id == second.instance_id
    assert len(fake.instances()) == 1
    body = str(fake.launch_bodies)
    assert fake.api_key not in body and "contract1" in body


async def test_lifecycle_pending_running_terminated(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = adapter(fake, base_url, http)
    inst = await provider.launch(await spec_for(provider, "contract2"))

    async def running() -> bool:
        return (await provider.get_instance(inst.instance_id)).state == InstanceState.RUNNING

    await wait_for(running, what="instance running")
    await provider.terminate(inst.instance_id)
    assert inst.instance_id in fake.deleted_ids()
    assert (await provider.get_instance(inst.instance_id)).state == InstanceState.TERMINATED
    await provider.terminate(inst.instance_id)  # already gone is success


async def test_exit_code_from_logs_or_agent(fake: Any, base_url: str, http: httpx.AsyncClient) -> None:
    provider = adapter(fake, base_url, http)
    inst = await provider.launch(await spec_for(provider, "contract3"))
    await wait_for(lambda: _state_is(provider, inst.instance_id, InstanceState.RUNNING), what="running")
    fake.finish(inst.instance_id, 7, ["epoch 1", "epoch 2"])
    chunk = await provider.logs(inst.instance_id)
    if provider.info.logs_via_api:
        assert chunk.exit_code == 7 and chunk.lines[-2:] == ["epoch 1", "epoch 2"]
        assert not any("HARVESTGPU_EXIT" in line for line in chunk.lines)
    else:
        assert provider.info.needs_agent and chunk.available is False


async def _state_is(provider: Provider, instance_id: str, state: InstanceState) -> bool:
    return (await provider.get_instance(instance_id)).state == state


async def test_relaunch_after_a_confirmed_terminate_is_a_new_instance(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    """A job that abandons a boot relaunches under the same name, maybe at the same account:
    the launch must not adopt the terminated instance (Lambda, for one, still lists it)."""
    provider = adapter(fake, base_url, http)
    first = await provider.launch(await spec_for(provider, "contract10"))
    await provider.terminate(first.instance_id)
    assert await _state_is(provider, first.instance_id, InstanceState.TERMINATED)
    second = await provider.launch(await spec_for(provider, "contract10"))
    assert second.instance_id != first.instance_id
    found = await provider.find_instance_by_name(instance_name("contract10"))
    assert found is not None and found.instance_id == second.instance_id
    assert [i.instance_id for i in await provider.list_instances()] == [second.instance_id]


async def test_lost_instance_is_terminated_not_an_error(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = adapter(fake, base_url, http)
    inst = await provider.launch(await spec_for(provider, "contract4"))
    fake.lose(inst.instance_id)
    assert (await provider.get_instance(inst.instance_id)).state == InstanceState.TERMINATED


async def test_list_instances_only_ours(fake: Any, base_url: str, http: httpx.AsyncClient) -> None:
    provider = adapter(fake, base_url, http)
    ours = fake.plant("hg-orphan1")
    fake.plant("someone-elses-box")
    listed = await provider.list_instances()
    assert [i.instance_id for i in listed] == [ours] and listed[0].name == "hg-orphan1"
    found = await provider.find_instance_by_name("hg-orphan1")
    assert found is not None and found.instance_id == ours


@pytest.mark.parametrize(
    ("fault", "error"),
    [("no_capacity", NoCapacityError), ("balance", QuotaError), ("auth", ProviderAuthError)],
)
async def test_launch_failures_are_classified(
    fake: Any, base_url: str, http: httpx.AsyncClient, fault: str, error: type[ProviderError]
) -> None:
    provider = adapter(fake, base_url, http)
    spec = await spec_for(provider, "contract5")
    fake.fail_next("launch", fault)
    with pytest.raises(error) as info:
        await provider.launch(spec)
    assert_no_key(fake, info.value)
    assert fake.instances() == {}


async def test_create_that_fails_after_creating_returns_the_instance(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = adapter(fake, base_url, http)
    spec = await spec_for(provider, "contract6")
    fake.fail_next("launch", "create_then_fail")
    inst = await provider.launch(spec)
    assert list(fake.instances()) == [inst.instance_id]


async def test_server_errors_and_timeouts_are_transient(
    fake: Any, base_url: str, http: httpx.AsyncClient
) -> None:
    provider = adapter(fake, base_url, http, timeout_s=0.5)
    fake.fail_next("offers", "server_error", times=5)
    with pytest.raises(ProviderTransientError) as info:
        await provider.list_offers(OfferQuery())
    assert_no_key(fake, info.value)
    fake.fail_next("offers", "slow", delay_s=2.0)
    with pytest.raises(ProviderTransientError):
        await provider.list_offers(OfferQuery())


async def test_rate_limit_is_retried_then_succeeds(fake: Any, base_url: str, http: httpx.AsyncClient) -> None:
    provider = adapter(fake, base_url, http)
    fake.fail_next("offers", "rate_limit", delay_s=0.1)
    assert await provider.list_offers(OfferQuery())
