"""LambdaProvider launch, lifecycle, terminate and listing against the fake over real sockets."""

from __future__ import annotations

import logging

import httpx
import pytest

from harvestgpu.providers.agent_script import agent_script, parse_agent_vars
from harvestgpu.providers.errors import NoCapacityError, ProviderAuthError, ProviderBadRequestError
from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.types import AgentConfig, InstanceState, OfferQuery
from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.providers.lambdalabs.conftest import AgentReceiver, launch_spec, offer_for


async def test_provider_identity_and_constructor_does_no_io(
    fake: FakeLambdaCloud, http: httpx.AsyncClient
) -> None:
    provider = LambdaProvider(api_key=fake.api_key, http=http)

    assert LambdaProvider.info.slug == "lambda"
    assert (LambdaProvider.info.logs_via_api, LambdaProvider.info.needs_agent) == (False, True)
    assert provider.base_url == "https://cloud.lambda.ai"
    assert fake.api_key not in repr(provider) and fake.api_key not in repr(provider.client)


async def test_validate_key_accepts_the_real_key(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    check = await provider.validate_key()

    assert check.valid and check.balance is None
    method, path, headers = fake.requests_seen[-1]
    assert (method, path) == ("GET", "/api/v1/instance-types")
    assert headers["authorization"] == f"Bearer {fake.api_key}"


async def test_validate_key_rejects_a_wrong_key(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    wrong = "secret_wrong_0123456789abcdef.xyz"
    provider = LambdaProvider(api_key=wrong, http=http, base_url=fake_url)

    with pytest.raises(ProviderAuthError) as caught:
        await provider.validate_key()

    assert "global/invalid-api-key" in str(caught.value)
    assert wrong not in str(caught.value)


async def test_launch_sends_the_documented_body_with_boot_script(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    offer = await offer_for(provider, "H100-PCIE")
    spec = launch_spec(offer, agent=AgentConfig(base_url="https://hg.example", token="tok-1"))

    instance = await provider.launch(spec)

    assert (instance.name, instance.state, instance.region) == (
        "hg-job01HZX3K9Q2",
        InstanceState.PENDING,
        offer.region,
    )
    assert instance.price_per_hour == pytest.approx(2.49)
    [body] = fake.launch_bodies
    assert body["region_name"] == offer.region
    assert body["instance_type_name"] == "gpu_1x_h100_pcie"
    assert body["ssh_key_names"] == ["harvestgpu"]
    assert body["name"] == "hg-job01HZX3K9Q2"
    assert body["user_data"] == agent_script(spec)
    assert "ghcr.io/acme/train:1.2" in body["user_data"]
    assert "python train.py --epochs 3" in body["user_data"]
    assert "HARVESTGPU_JOB_ID=job01HZX3K9Q2" in body["user_data"]
    assert parse_agent_vars(body["user_data"]) == {
        "HG_JOB_ID": "job01HZX3K9Q2",
        "HG_AGENT_URL": "https://hg.example",
        "HG_AGENT_TOKEN": "tok-1",
    }
    assert fake.api_key not in str(body)
    assert list(fake.instances()) == [instance.instance_id]


async def test_launch_registers_the_harvestgpu_ssh_key_once(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    offer = await offer_for(provider, "A10")

    await provider.launch(launch_spec(offer, "job-a"))
    await provider.launch(launch_spec(offer, "job-b"))

    key_posts = [p for m, p, _ in fake.requests_seen if (m, p) == ("POST", "/api/v1/ssh-keys")]
    assert len(key_posts) == 1
    assert len(fake.instances()) == 2


async def test_launch_without_public_key_lets_lambda_generate_one_and_drops_the_private_key(
    fake: FakeLambdaCloud, provider: LambdaProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    offer = await offer_for(provider, "A10")

    instance = await provider.launch(launch_spec(offer, ssh_public_key=None))

    assert fake.instances()[instance.instance_id]["ssh_key_names"] == ["harvestgpu"]
    assert "PRIVATE KEY" not in caplog.text
    assert "PRIVATE KEY" not in repr(vars(provider))


async def test_relaunch_with_the_same_name_returns_the_existing_instance(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    spec = launch_spec(offer)

    first = await provider.launch(spec)
    second = await provider.launch(spec)

    assert second.instance_id == first.instance_id
    assert len(fake.instances()) == 1
    assert len(fake.launch_bodies) == 1


async def test_launch_refuses_to_put_the_api_key_on_the_instance(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    offer = await offer_for(provider, "A10")

    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.launch(launch_spec(offer, env={"LAMBDA_KEY": fake.api_key}))

    assert fake.api_key not in str(caught.value)
    assert fake.launch_bodies == []


async def test_launching_a_sold_out_offer_fails_over_without_calling_lambda(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    fake.set_capacity("V100-16GB", False)
    [sold_out] = await provider.list_offers(OfferQuery(gpu_models=frozenset({"V100-16GB"}), gpu_count=8))

    with pytest.raises(NoCapacityError):
        await provider.launch(launch_spec(sold_out))

    assert fake.launch_bodies == []


async def test_capacity_gone_between_listing_and_launch_is_no_capacity(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    offer = await offer_for(provider, "RTX-4090")
    fake.set_capacity("RTX-4090", False)

    with pytest.raises(NoCapacityError) as caught:
        await provider.launch(launch_spec(offer))

    assert "insufficient-capacity" in str(caught.value)
    assert fake.instances() == {}


async def test_states_follow_booting_active_then_terminate_to_gone(
    fake: FakeLambdaCloud, provider: LambdaProvider, agent_receiver: tuple[AgentReceiver, str]
) -> None:
    receiver, receiver_url = agent_receiver
    offer = await offer_for(provider, "H100-SXM")
    agent = AgentConfig(base_url=receiver_url, token=receiver.token)
    launched = await provider.launch(launch_spec(offer, agent=agent))

    booting = await provider.get_instance(launched.instance_id)
    running = await provider.get_instance(launched.instance_id)
    assert (booting.state, booting.message) == (InstanceState.PENDING, "booting")
    assert (running.state, running.message) == (InstanceState.RUNNING, "active")
    assert running.name == "hg-job01HZX3K9Q2" and running.price_per_hour == pytest.approx(3.29)

    fake.finish(launched.instance_id, 3, ["epoch 1", "epoch 2"])

    # The workload's logs and exit code reach HarvestGPU through the agent, not the API.
    assert [(path, body) for path, body, _ in receiver.posts] == [
        ("/api/v1/agent/jobs/job01HZX3K9Q2/logs", {"lines": ["epoch 1", "epoch 2"]}),
        ("/api/v1/agent/jobs/job01HZX3K9Q2/exit", {"exit_code": 3}),
    ]
    assert fake.agent_posts == [
        ("/api/v1/agent/jobs/job01HZX3K9Q2/logs", 200),
        ("/api/v1/agent/jobs/job01HZX3K9Q2/exit", 200),
    ]
    assert {auth for _, _, auth in receiver.posts} == {"Bearer agent-token-for-one-job"}
    assert (await provider.logs(launched.instance_id)).available is False
    # A Lambda VM keeps running (and billing) after its workload ends, until terminated.
    assert (await provider.get_instance(launched.instance_id)).state is InstanceState.RUNNING

    await provider.terminate(launched.instance_id)

    assert launched.instance_id in fake.deleted_ids()
    assert (await provider.get_instance(launched.instance_id)).state is InstanceState.TERMINATED
    assert (await provider.get_instance(launched.instance_id)).state is InstanceState.TERMINATED
    gone = await provider.get_instance(launched.instance_id)
    assert gone.state is InstanceState.TERMINATED
    assert fake.instances() == {}


async def test_terminate_is_idempotent(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    instance_id = fake.plant("hg-job-t")

    await provider.terminate(instance_id)
    await provider.terminate(instance_id)
    fake.lose(instance_id)
    await provider.terminate(instance_id)
    await provider.terminate("0920582c7ff041399e34823a0be62549")

    assert fake.deleted_ids() == {instance_id}
    terminate_calls = [p for m, p, _ in fake.requests_seen if p == "/api/v1/instance-operations/terminate"]
    assert len(terminate_calls) == 4


async def test_lost_instance_reads_as_terminated(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    instance_id = fake.plant("hg-job-lost")
    assert (await provider.get_instance(instance_id)).state is InstanceState.RUNNING

    fake.lose(instance_id)

    lost = await provider.get_instance(instance_id)
    assert (lost.instance_id, lost.state) == (instance_id, InstanceState.TERMINATED)


async def test_logs_are_not_available_from_lambda(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    instance_id = fake.plant("hg-job-logs")
    seen_before = len(fake.requests_seen)

    chunk = await provider.logs(instance_id)

    assert (chunk.lines, chunk.available, chunk.exit_code) == ([], False, None)
    assert len(fake.requests_seen) == seen_before


async def test_list_instances_returns_only_live_hg_instances_from_the_whole_list(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    ours = {fake.plant(f"hg-job-{n:03d}", "A10") for n in range(60)}
    for n in range(40):
        fake.plant(f"user-notebook-{n}", "A10")
    fake.plant("", "A10")
    finished = fake.plant("hg-job-finished", "A10")
    await provider.terminate(finished)
    assert (await provider.get_instance(finished)).state is InstanceState.TERMINATED

    found = await provider.list_instances()

    assert {i.instance_id for i in found} == ours
    assert all(i.name.startswith("hg-") and i.state is InstanceState.RUNNING for i in found)
    # Lambda's list is unpaginated: one call returns every instance.
    list_calls = [p for m, p, _ in fake.requests_seen if (m, p) == ("GET", "/api/v1/instances")]
    assert len(list_calls) == 1
    assert await provider.find_instance_by_name("hg-job-007") is not None
