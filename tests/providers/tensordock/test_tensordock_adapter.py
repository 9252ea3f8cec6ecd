"""The TensorDock adapter against the fake TensorDock cloud, over real sockets."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from harvestgpu.providers.agent_script import agent_script, parse_agent_vars
from harvestgpu.providers.errors import NoCapacityError, ProviderAuthError, ProviderBadRequestError
from harvestgpu.providers.tensordock import TensorDockProvider
from harvestgpu.providers.tensordock.adapter import catalog_model
from harvestgpu.providers.types import InstanceState, OfferQuery
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.providers.tensordock.helpers import AGENT_TOKEN, SSH_KEY, AgentReceiver, launch_spec, offer_for

# TensorDock's own spelling for every GPU the fake stocks that the catalog knows. The fake
# also stocks "rtxa4000-pcie-16gb", which is not in the catalog and must not appear at all.
SPELLINGS = {
    "h100-sxm5-80gb": "H100-SXM",
    "h100-pcie-80gb": "H100-PCIE",
    "a100-sxm4-80gb": "A100-80GB-SXM",
    "l40s-pcie-48gb": "L40S",
    "geforcertx4090-pcie-24gb": "RTX-4090",
    "rtxa6000-pcie-48gb": "RTX-A6000",
    "v100-pcie-16gb": "V100-16GB",
}


async def raw_locations(fake: FakeTensorDockCloud, url: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{url}/api/v2/locations", headers={"Authorization": f"Bearer {fake.api_key}"}
        )
    return list(response.json()["data"]["locations"])


@pytest.mark.parametrize(
    ("v0_name", "key"),
    [
        *SPELLINGS.items(),
        ("a100-pcie-80gb", "A100-80GB-PCIE"),
        ("l40-pcie-48gb", "L40"),
        ("a40-pcie-48gb", "A40"),
        ("geforcertx5090-pcie-32gb", "RTX-5090"),
        ("geforcertx3090-pcie-24gb", "RTX-3090"),
        ("rtxa4000-pcie-16gb", None),  # not an A40
        ("rtxa5000-pcie-24gb", None),
        ("geforcertx3080-pcie-10gb", None),
        ("h100-sxm5-40gb", None),  # no such H100: skipped rather than sold as the 80 GB part
    ],
)
def test_tensordock_gpu_spellings(v0_name: str, key: str | None) -> None:
    model = catalog_model(v0_name)
    assert (model.key if model else None) == key


# ---- key and offers ----------------------------------------------------------------------


async def test_validate_key_accepts_the_real_token(provider: TensorDockProvider) -> None:
    check = await provider.validate_key()
    assert check.valid
    assert check.balance is None  # v2 documents no balance endpoint


async def test_validate_key_with_a_wrong_token_is_an_auth_error(
    fake: FakeTensorDockCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    wrong = "td_WRONGKEY9876543210fedcba"
    provider = TensorDockProvider(api_key=wrong, http=http, base_url=fake_url, timeout_s=5)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.validate_key()
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert wrong not in repr(provider)


async def test_offers_use_catalog_keys_and_skip_unknown_gpus(provider: TensorDockProvider) -> None:
    offers = await provider.list_offers(OfferQuery())
    assert {o.provider_gpu_name: o.gpu_model for o in offers} == SPELLINGS
    h100 = next(o for o in offers if o.gpu_model == "H100-SXM")
    assert (h100.provider, h100.gpu_count, h100.vram_gb) == ("tensordock", 1, 80)
    assert h100.region == "Chubbuck, Idaho, United States"
    assert all(o.available and 0 < o.availability <= 1 for o in offers)
    assert len({o.price_per_hour for o in offers}) == len(offers)  # realistic, distinct prices


async def test_offer_price_is_the_whole_vm_not_the_gpu(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, fake_url: str
) -> None:
    fake.set_price("H100-SXM", 2.5)
    single = await offer_for(provider, "H100-SXM")
    assert single.price_per_hour == pytest.approx(2.5)

    double = await offer_for(provider, "H100-SXM", gpu_count=2)
    location = next(
        loc for loc in await raw_locations(fake, fake_url) if loc["id"] == double.extra["location_id"]
    )
    gpu = next(g for g in location["gpus"] if g["v0Name"] == "h100-sxm5-80gb")  # type: ignore[attr-defined]
    pricing = gpu["pricing"]
    # 2 GPUs + HarvestGPU's standard VM (8 vCPU and 32 GB RAM per GPU, 100 GB disk).
    expected = (
        2 * gpu["price_per_hr"]
        + 16 * pricing["per_vcpu_hr"]
        + 64 * pricing["per_gb_ram_hr"]
        + 100 * pricing["per_gb_storage_hr"]
    )
    assert double.gpu_count == 2
    assert double.price_per_hour == pytest.approx(expected)
    assert gpu["price_per_hr"] < single.price_per_hour  # the per-GPU figure alone undercharges


async def test_sold_out_gpu_is_listed_as_unavailable(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    fake.set_capacity("L40S", False)
    l40s = await offer_for(provider, "L40S")
    assert not l40s.available and l40s.availability == 0
    fake.set_capacity("L40S", True)
    assert (await offer_for(provider, "L40S")).available


async def test_more_gpus_than_a_location_has_is_unavailable(provider: TensorDockProvider) -> None:
    assert not (await offer_for(provider, "RTX-4090", gpu_count=16)).available


async def test_offer_query_filters_models_and_price(provider: TensorDockProvider) -> None:
    cheap = await provider.list_offers(OfferQuery(max_price_per_hour=1.0))
    assert {o.gpu_model for o in cheap} == {"RTX-4090", "RTX-A6000", "V100-16GB"}
    assert all(o.price_per_hour <= 1.0 for o in cheap)
    only = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-PCIE", "L40S"})))
    assert {o.gpu_model for o in only} == {"H100-PCIE", "L40S"}


# ---- launch -------------------------------------------------------------------------------


async def test_launch_sends_the_documented_body_with_the_boot_script(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, agent_receiver: AgentReceiver
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    spec = launch_spec(offer, agent_url=agent_receiver.url)
    instance = await provider.launch(spec)

    [body] = fake.launch_bodies
    assert body["data"]["type"] == "virtualmachine"
    attrs = body["data"]["attributes"]
    assert attrs["name"] == "hg-job7f3a" and attrs["type"] == "virtualmachine"
    assert attrs["image"] == "ubuntu2404_ml_everything"
    assert attrs["location_id"] == offer.extra["location_id"] and "hostnode_id" not in attrs
    assert attrs["resources"] == {
        "vcpu_count": 8,
        "ram_gb": 32,
        "storage_gb": 100,
        "gpus": {"h100-sxm5-80gb": {"count": 1}},
    }
    assert attrs["ssh_key"] == SSH_KEY and "ssh_key_id" not in attrs
    [script_file] = attrs["cloud_init"]["write_files"]
    script = script_file["content"]
    assert script == agent_script(spec)
    assert any(script_file["path"] in cmd for cmd in attrs["cloud_init"]["runcmd"])
    assert "-e HARVESTGPU_JOB_ID=job7f3a" in script
    assert "ghcr.io/acme/train:1.2" in script and "python train.py --epochs 3" in script
    assert parse_agent_vars(script) == {
        "HG_JOB_ID": "job7f3a",
        "HG_AGENT_URL": agent_receiver.url,
        "HG_AGENT_TOKEN": AGENT_TOKEN,
    }
    assert fake.api_key not in json.dumps(body)

    assert instance.name == "hg-job7f3a"
    assert set(fake.instances()) == {instance.instance_id}
    assert instance.state is InstanceState.PENDING
    assert instance.price_per_hour == pytest.approx(offer.price_per_hour)


async def test_a_bigger_disk_is_requested_and_priced(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    offer = await offer_for(provider, "RTX-4090")
    instance = await provider.launch(dataclasses.replace(launch_spec(offer), disk_gb=230))
    assert fake.launch_bodies[0]["data"]["attributes"]["resources"]["storage_gb"] == 250  # 50 GB steps
    assert instance.price_per_hour is not None and instance.price_per_hour > offer.price_per_hour
    assert instance.price_per_hour == pytest.approx(
        fake.instances()[instance.instance_id]["rateHourly"], abs=1e-4
    )


async def test_launch_without_ssh_key_is_refused_before_any_create(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    with pytest.raises(ProviderBadRequestError, match="SSH public key"):
        await provider.launch(launch_spec(offer, ssh_key=None))
    assert fake.launch_bodies == [] and fake.instances() == {}


async def test_a_job_carrying_the_provider_key_is_never_sent_to_the_vm(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    offer = await offer_for(provider, "H100-SXM")
    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.launch(launch_spec(offer, env={"LEAKED": fake.api_key}))
    assert fake.api_key not in str(caught.value)
    assert fake.launch_bodies == [] and fake.instances() == {}


async def test_relaunch_with_the_same_name_returns_the_same_instance(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    offer = await offer_for(provider, "L40S")
    first = await provider.launch(launch_spec(offer))
    second = await provider.launch(launch_spec(offer))
    assert second.instance_id == first.instance_id
    assert len(fake.launch_bodies) == 1 and len(fake.instances()) == 1


async def test_launch_adopts_an_instance_the_cloud_already_has_under_that_name(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    planted = fake.plant("hg-job7f3a", "H100-SXM")
    offer = await offer_for(provider, "H100-SXM")
    instance = await provider.launch(launch_spec(offer))
    assert instance.instance_id == planted
    assert fake.launch_bodies == []


async def test_offer_sold_out_since_listing_is_no_capacity(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    offer = await offer_for(provider, "RTX-A6000")
    fake.set_capacity("RTX-A6000", False)
    with pytest.raises(NoCapacityError):
        await provider.launch(launch_spec(offer))
    assert fake.instances() == {}


# ---- status, logs, terminate ----------------------------------------------------------------


async def test_lifecycle_provisioning_running_finished_terminated(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, agent_receiver: AgentReceiver
) -> None:
    offer = await offer_for(provider, "H100-PCIE")
    launched = await provider.launch(launch_spec(offer, agent_url=agent_receiver.url))
    iid = launched.instance_id

    assert (await provider.get_instance(iid)).state is InstanceState.PENDING
    running = await provider.get_instance(iid)
    assert running.state is InstanceState.RUNNING and running.name == "hg-job7f3a"
    assert running.price_per_hour == pytest.approx(offer.price_per_hour)

    fake.finish(iid, 3, ["epoch 1 loss 0.9", "epoch 2 loss 0.4"])
    assert fake.agent_posts == [
        ("/api/v1/agent/jobs/job7f3a/logs", 200),
        ("/api/v1/agent/jobs/job7f3a/exit", 200),
    ]
    assert agent_receiver.posts == [
        (
            "/api/v1/agent/jobs/job7f3a/logs",
            f"Bearer {AGENT_TOKEN}",
            {"lines": ["epoch 1 loss 0.9", "epoch 2 loss 0.4"]},
        ),
        ("/api/v1/agent/jobs/job7f3a/exit", f"Bearer {AGENT_TOKEN}", {"exit_code": 3}),
    ]
    # The VM keeps running (and billing) after the workload ends, until we delete it.
    assert (await provider.get_instance(iid)).state is InstanceState.RUNNING
    chunk = await provider.logs(iid)
    assert chunk.available is False and chunk.lines == [] and chunk.exit_code is None

    await provider.terminate(iid)
    assert iid in fake.deleted_ids() and fake.instances() == {}
    assert (await provider.get_instance(iid)).state is InstanceState.TERMINATED


async def test_logs_make_no_call_to_the_cloud(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    before = len(fake.requests_seen)
    assert (await provider.logs("anything", since="c1")).available is False
    assert len(fake.requests_seen) == before


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Running", InstanceState.RUNNING),
        ("StoppedDisassociated", InstanceState.FAILED),
        ("stopped_disassociated", InstanceState.FAILED),
        ("Stopped", InstanceState.FAILED),
        ("hibernating", InstanceState.UNKNOWN),
    ],
)
async def test_status_strings_map_case_insensitively(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, status: str, state: InstanceState
) -> None:
    iid = fake.plant("hg-status", "RTX-4090")
    fake.set_status(iid, status)
    instance = await provider.get_instance(iid)
    assert instance.state is state
    assert instance.message is not None and status in instance.message


@pytest.mark.parametrize("shape", ["flat", "data", "attributes"])
async def test_get_instance_reads_every_known_envelope(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, shape: str
) -> None:
    fake.get_shape = shape
    iid = fake.plant("hg-shape", "L40S")
    instance = await provider.get_instance(iid)
    assert (instance.instance_id, instance.name, instance.state) == (iid, "hg-shape", InstanceState.RUNNING)


async def test_lost_instance_is_terminated_not_an_error(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    iid = fake.plant("hg-lost")
    fake.lose(iid)
    assert (await provider.get_instance(iid)).state is InstanceState.TERMINATED


async def test_terminate_deletes_and_is_idempotent(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    iid = fake.plant("hg-done")
    await provider.terminate(iid)
    await provider.terminate(iid)
    await provider.terminate("00000000-0000-0000-0000-000000000000")
    assert fake.deleted_ids() == {iid}
    deletes = [path for method, path, _ in fake.requests_seen if method == "DELETE"]
    assert deletes.count(f"/api/v2/instances/{iid}") == 2
    assert not any(path.endswith(("/stop", "/start")) for _, path, _ in fake.requests_seen)


@pytest.mark.parametrize("shape", ["a", "b", "c"])
async def test_list_instances_returns_only_ours_across_pages(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, shape: str
) -> None:
    fake.list_shape, fake.page_size = shape, 2
    ours = {fake.plant(f"hg-job{n}") for n in range(3)}
    fake.plant("my-own-dev-box")
    fake.plant("hgx-not-ours")
    listed = await provider.list_instances()
    assert {i.instance_id for i in listed} == ours
    assert all(i.name.startswith("hg-") for i in listed)
    pages = [p for m, p, _ in fake.requests_seen if m == "GET" and p == "/api/v2/instances"]
    assert len(pages) == 3
