"""RunPodProvider against the fake RunPod over real sockets: offers, launch, state, logs, teardown."""

from __future__ import annotations

import json

import httpx
import pytest

from harvestgpu.providers.errors import ProviderAuthError, ProviderBadRequestError
from harvestgpu.providers.runpod import RunPodProvider
from harvestgpu.providers.types import InstanceState, OfferQuery
from harvestgpu.providers.wrap import wrap_command_string
from tests.fakes.runpod import FakeRunPodCloud
from tests.providers.runpod.helpers import assert_key_hidden, launch_spec, offer_for


def test_provider_info_and_repr(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    assert provider.info.slug == "runpod"
    assert provider.info.logs_via_api is True and provider.info.needs_agent is False
    assert RunPodProvider.default_base_url == "https://api.runpod.io"
    assert_key_hidden(fake.api_key, provider)


# ---- validate_key ----------------------------------------------------------------------------


async def test_validate_key_accepts_the_right_key(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    fake.plant("hg-old-job")
    check = await provider.validate_key()
    assert check.valid is True
    assert "1 pods" in check.message
    method, path, headers = fake.requests_seen[-1]
    assert (method, path) == ("GET", "/v2/pods")
    assert headers["authorization"] == f"Bearer {fake.api_key}"


@pytest.mark.parametrize("bad_key", ["rpa_WRONGKEY9999999999zzzz", ""])
async def test_validate_key_rejects_a_bad_key(
    fake: FakeRunPodCloud, base_url: str, http: httpx.AsyncClient, bad_key: str
) -> None:
    provider = RunPodProvider(api_key=bad_key, http=http, base_url=base_url)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.validate_key()
    if bad_key:
        assert caught.value.status == 401
        assert "invalid bearer token" in caught.value.message
    assert_key_hidden(fake.api_key, caught.value)
    if bad_key:
        assert_key_hidden(bad_key, caught.value)


# ---- offers ----------------------------------------------------------------------------------


async def test_offers_map_runpod_gpu_ids_to_catalog_keys(provider: RunPodProvider) -> None:
    offers = await provider.list_offers(OfferQuery())
    by_key = {o.gpu_model: o for o in offers}
    expected = {"H100-SXM", "H100-PCIE", "H200", "A100-80GB-SXM", "L40S", "RTX-4090", "RTX-A6000"}
    assert set(by_key) == expected  # RTX A5000 and MI300X are not in our catalog: skipped
    assert by_key["H100-SXM"].provider_gpu_name == "NVIDIA H100 80GB HBM3"
    assert by_key["H200"].provider_gpu_name == "NVIDIA H200"  # resolved through "H200 SXM"
    assert by_key["RTX-4090"].vram_gb == 24
    assert all(o.provider == "runpod" and not o.interruptible for o in offers)
    assert len({o.offer_id for o in offers}) == len(offers)


async def test_offer_price_is_the_whole_pod_price(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    one = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"})))
    four = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"}), gpu_count=4))
    assert {o.price_per_hour for o in one} == {2.99}
    assert [o.price_per_hour for o in four] == [11.96, 11.96]  # 4 x 2.99, both data centres
    assert {o.gpu_count for o in four} == {4}
    fake.set_price("L40S", 0.79)
    l40s = await offer_for(provider, "L40S")
    assert l40s.price_per_hour == 0.79


async def test_offers_are_per_data_centre_with_its_availability(provider: RunPodProvider) -> None:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"})))
    by_region = {o.region: o for o in offers}
    assert set(by_region) == {"US-KS-2", "CA-MTL-1"}
    assert by_region["US-KS-2"].availability == 1.0  # HIGH
    assert by_region["CA-MTL-1"].availability == 0.25  # LOW
    assert all(o.available for o in offers)
    assert by_region["CA-MTL-1"].extra == {
        "gpu_type_id": "NVIDIA H100 80GB HBM3",
        "cloud": "SECURE",
        "data_center_id": "CA-MTL-1",
    }


async def test_gpu_without_capacity_is_offered_as_unavailable(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    fake.set_capacity("H100-SXM", False)
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"})))
    assert len(offers) == 1
    assert offers[0].available is False and offers[0].availability == 0.0
    fake.set_capacity("H100-SXM", True)
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"})))
    assert all(o.available for o in offers)


async def test_offer_query_narrows_models_price_and_count(provider: RunPodProvider) -> None:
    cheap = await provider.list_offers(OfferQuery(max_price_per_hour=1.0))
    assert cheap and all(o.price_per_hour <= 1.0 for o in cheap)
    assert {o.gpu_model for o in cheap} == {"L40S", "RTX-4090", "RTX-A6000"}
    assert await provider.list_offers(OfferQuery(gpu_count=16)) == []  # above maxCount (8)


# ---- launch ----------------------------------------------------------------------------------


async def test_launch_sends_the_documented_create_body(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "H100-SXM", region="US-KS-2")
    instance = await provider.launch(launch_spec(offer, job_id="j01"))

    assert fake.launch_bodies == [
        {
            "name": "hg-j01",
            "image": "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime",
            "args": wrap_command_string("python train.py --epochs 3"),
            "env": {"HF_HOME": "/cache", "HARVESTGPU_JOB_ID": "j01"},
            "disk": 40,
            "gpu": {"id": "NVIDIA H100 80GB HBM3", "count": 1},
            "cloud": "SECURE",
            "dataCenterIds": ["US-KS-2"],
        }
    ]
    assert fake.api_key not in json.dumps(fake.launch_bodies)
    assert instance.instance_id in fake.instances()
    assert instance.name == "hg-j01"
    assert instance.state is InstanceState.PENDING
    assert instance.price_per_hour == 2.99
    assert instance.region == "US-KS-2"
    assert instance.created_at is not None


async def test_launch_is_idempotent_on_the_name(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    offer = await offer_for(provider, "RTX-4090")
    first = await provider.launch(launch_spec(offer))
    second = await provider.launch(launch_spec(offer))
    assert second.instance_id == first.instance_id
    assert len(fake.instances()) == 1
    assert len(fake.launch_bodies) == 1


async def test_launch_adopts_an_instance_already_named_for_the_job(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    planted = fake.plant("hg-job123", "L40S")
    offer = await offer_for(provider, "RTX-4090")
    instance = await provider.launch(launch_spec(offer))
    assert instance.instance_id == planted
    assert fake.launch_bodies == []


async def test_launch_refuses_to_ship_the_api_key(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    offer = await offer_for(provider, "RTX-4090")
    spec = launch_spec(offer, env={"RUNPOD_KEY": fake.api_key})
    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.launch(spec)
    assert fake.launch_bodies == []
    assert_key_hidden(fake.api_key, caught.value)


# ---- state -----------------------------------------------------------------------------------


async def test_state_goes_provisioning_running_then_exited_after_stop(
    provider: RunPodProvider, fake: FakeRunPodCloud, base_url: str, http: httpx.AsyncClient
) -> None:
    offer = await offer_for(provider, "A100-80GB-SXM")
    launched = await provider.launch(launch_spec(offer))
    first = await provider.get_instance(launched.instance_id)
    assert first.state is InstanceState.PENDING
    second = await provider.get_instance(launched.instance_id)
    assert second.state is InstanceState.RUNNING
    assert second.price_per_hour == 1.89

    fake.finish(launched.instance_id, 0, ["done"])
    # The wrapper idles after the sentinel, so the pod keeps running until we delete it.
    assert (await provider.get_instance(launched.instance_id)).state is InstanceState.RUNNING

    # Someone stops the pod outside HarvestGPU: RunPod reports EXITED.
    stop = await http.post(
        f"{base_url}/v2/pods/{launched.instance_id}/action",
        json={"action": "stop"},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )
    assert stop.status_code == 200
    stopped = await provider.get_instance(launched.instance_id)
    assert stopped.state is InstanceState.EXITED
    assert stopped.price_per_hour == 0.0


async def test_error_status_is_failed(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    pod_id = fake.plant("hg-broken")
    fake.set_status(pod_id, "ERROR")
    assert (await provider.get_instance(pod_id)).state is InstanceState.FAILED


async def test_lost_instance_is_terminated(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    offer = await offer_for(provider, "L40S")
    launched = await provider.launch(launch_spec(offer))
    fake.lose(launched.instance_id)
    gone = await provider.get_instance(launched.instance_id)
    assert gone.state is InstanceState.TERMINATED
    assert gone.instance_id == launched.instance_id


# ---- logs ------------------------------------------------------------------------------------


async def test_logs_return_new_lines_and_the_exit_code(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "RTX-A6000")
    launched = await provider.launch(launch_spec(offer))
    before = await provider.logs(launched.instance_id)
    assert before.lines == []  # only system lines so far ("Pulling image ...")
    assert before.exit_code is None

    fake.finish(launched.instance_id, 3, ["epoch 1/3 loss=0.912", "Traceback: boom"])
    chunk = await provider.logs(launched.instance_id, before.cursor)
    assert chunk.lines == ["epoch 1/3 loss=0.912", "Traceback: boom"]
    assert chunk.exit_code == 3

    again = await provider.logs(launched.instance_id, chunk.cursor)
    assert again.lines == []
    assert again.exit_code == 3  # remembered in the cursor

    everything = await provider.logs(launched.instance_id)
    assert everything.lines == ["epoch 1/3 loss=0.912", "Traceback: boom"]
    assert everything.exit_code == 3


async def test_logs_follow_a_restarting_container(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    pod_id = fake.plant("hg-unwrapped")  # its command is not wrapped: RunPod restarts it
    fake.finish(pod_id, 1, ["first run"])
    first = await provider.logs(pod_id)
    fake.finish(pod_id, 1, ["second run"])
    second = await provider.logs(pod_id, first.cursor)
    assert first.lines == ["first run"]
    assert second.lines == ["second run"]
    assert second.exit_code is None  # no sentinel: the exit code is unknowable


async def test_logs_of_a_deleted_pod_are_unavailable(provider: RunPodProvider, fake: FakeRunPodCloud) -> None:
    pod_id = fake.plant("hg-gone")
    await provider.terminate(pod_id)
    chunk = await provider.logs(pod_id, "2|0|whatever")
    assert chunk.available is False
    assert chunk.lines == []
    assert chunk.exit_code == 0


# ---- terminate and list ----------------------------------------------------------------------


async def test_terminate_deletes_the_pod_and_is_idempotent(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "H100-PCIE")
    launched = await provider.launch(launch_spec(offer))
    await provider.terminate(launched.instance_id)
    assert launched.instance_id in fake.deleted_ids()
    assert launched.instance_id not in fake.instances()
    await provider.terminate(launched.instance_id)  # already gone: success
    assert ("DELETE", f"/v2/pods/{launched.instance_id}") in [(m, p) for m, p, _ in fake.requests_seen]
    assert (await provider.get_instance(launched.instance_id)).state is InstanceState.TERMINATED


async def test_list_instances_returns_only_harvestgpu_pods(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    ours = {fake.plant(f"hg-job{i}") for i in range(30)}
    for i in range(30):
        fake.plant(f"my-notebook-{i}")
    fake.plant("hg")  # not the prefix "hg-"
    listed = await provider.list_instances()
    assert {i.instance_id for i in listed} == ours
    assert all(i.name.startswith("hg-") for i in listed)
    assert all(i.state is InstanceState.RUNNING for i in listed)
    found = await provider.find_instance_by_name("hg-job7")
    assert found is not None and found.instance_id in ours


async def test_instances_carry_the_job_id_marker_from_the_pod_env(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    offer = await offer_for(provider, "L40S")
    launched = await provider.launch(launch_spec(offer, job_id="j42"))
    planted = fake.plant("hg-j43", env={"HARVESTGPU_JOB_ID": "someone-else"})
    unmarked = fake.plant("hg-j44")  # no HARVESTGPU_JOB_ID in its env
    markers = {i.instance_id: i.job_marker for i in await provider.list_instances()}
    assert markers == {launched.instance_id: "j42", planted: "someone-else", unmarked: None}
    assert (await provider.get_instance(launched.instance_id)).job_marker == "j42"
    found = await provider.find_instance_by_name("hg-j42")
    assert found is not None and found.job_marker == "j42"
