"""Launch, status, logs, terminate, listing and key validation against the fake Vast.ai cloud."""

from __future__ import annotations

import json

import httpx
import pytest

from harvestgpu.providers.errors import NoCapacityError, ProviderAuthError, ProviderBadRequestError
from harvestgpu.providers.types import InstanceState
from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.vastai import FakeVastAICloud
from tests.providers.vastai.support import cheapest, requests_to, spec_for


async def test_launch_sends_the_documented_create_body(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider, "H100-SXM")

    instance = await provider.launch(spec_for(offer, "job01", env={"HF_TOKEN": "hf_abc"}))

    [body] = fake.launch_bodies
    assert body["image"] == "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime"
    assert body["runtype"] == "args"
    assert body["onstart"] == "sh" and body["args"][0] == "-c"
    script = body["args"][1]
    assert "python train.py --epochs 3" in script and "HARVESTGPU_EXIT=" in script
    assert body["env"] == {"HF_TOKEN": "hf_abc", "HARVESTGPU_JOB_ID": "job01"}
    assert body["label"] == "hg-job01"
    assert body["disk"] == 50 and body["cancel_unavail"] is True
    assert body.get("price") is None  # on-demand, never a bid
    assert fake.api_key not in json.dumps(body)
    [create_headers] = requests_to(fake, "PUT", f"/api/v0/asks/{offer.offer_id}/")
    assert create_headers["authorization"] == f"Bearer {fake.api_key}"

    assert instance.name == "hg-job01" and instance.state is InstanceState.PENDING
    assert set(fake.instances()) == {instance.instance_id}
    assert fake.instances()[instance.instance_id]["label"] == "hg-job01"
    assert instance.price_per_hour == pytest.approx(offer.price_per_hour)


async def test_launch_prices_the_disk_it_requests(provider: VastAIProvider, fake: FakeVastAICloud) -> None:
    offer = await cheapest(provider, "RTX-4090")

    instance = await provider.launch(spec_for(offer, disk_gb=250))

    assert fake.launch_bodies[0]["disk"] == 250
    expected = float(offer.extra["dph_base"]) + 250 * 0.15 / 720
    assert instance.price_per_hour == pytest.approx(expected)
    assert fake.instances()[instance.instance_id]["dph_total"] == pytest.approx(expected)


async def test_relaunching_the_same_job_returns_the_same_instance(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider, "L40S")
    first = await provider.launch(spec_for(offer, "job02"))

    again = await provider.launch(spec_for(await cheapest(provider, "L40S"), "job02"))

    assert again.instance_id == first.instance_id
    assert len(fake.instances()) == 1 and len(fake.launch_bodies) == 1


async def test_launch_refuses_to_put_the_api_key_on_the_instance(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider)

    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.launch(spec_for(offer, env={"VAST_API_KEY": fake.api_key}))

    assert fake.launch_bodies == [] and fake.instances() == {}
    assert fake.api_key not in str(caught.value)


async def test_rented_or_withdrawn_offer_is_no_capacity(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    offer = await cheapest(provider, "A100-80GB-SXM")
    await provider.launch(spec_for(offer, "job03"))

    with pytest.raises(NoCapacityError):  # the same machine is rented now
        await provider.launch(spec_for(offer, "job04"))

    fresh = await cheapest(provider, "A100-80GB-SXM")
    fake.set_capacity("A100-80GB-SXM", False)
    with pytest.raises(NoCapacityError):
        await provider.launch(spec_for(fresh, "job05"))
    assert len(fake.instances()) == 1


async def test_instance_goes_pending_running_and_reports_its_exit(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    instance = await provider.launch(spec_for(await cheapest(provider), "job06"))

    first = await provider.get_instance(instance.instance_id)
    second = await provider.get_instance(instance.instance_id)
    assert (first.state, second.state) == (InstanceState.PENDING, InstanceState.RUNNING)
    assert second.name == "hg-job06" and second.price_per_hour == pytest.approx(instance.price_per_hour)

    fake.finish(instance.instance_id, 3, ["epoch 1", "epoch 2"])
    chunk = await provider.logs(instance.instance_id)

    assert chunk.lines == ["epoch 1", "epoch 2"] and chunk.exit_code == 3
    # The wrapper idles after the sentinel: the instance keeps running until we destroy it.
    assert (await provider.get_instance(instance.instance_id)).state is InstanceState.RUNNING
    await provider.terminate(instance.instance_id)
    assert (await provider.get_instance(instance.instance_id)).state is InstanceState.TERMINATED


async def test_logs_return_only_lines_after_the_cursor(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    instance = await provider.launch(spec_for(await cheapest(provider), "job07"))

    empty = await provider.logs(instance.instance_id)
    fake.finish(instance.instance_id, 0, ["loading data", "step 1 loss=0.5"])
    grown = await provider.logs(instance.instance_id, since=empty.cursor)
    after = await provider.logs(instance.instance_id, since=grown.cursor)

    assert (empty.lines, empty.exit_code) == ([], None)
    assert (grown.lines, grown.exit_code) == (["loading data", "step 1 loss=0.5"], 0)
    assert (after.lines, after.exit_code) == ([], 0)
    downloads = requests_to(fake, "GET", "/instance_logs/")
    assert len(downloads) >= 3 * (fake.log_upload_polls + 1)  # 404s until each upload landed
    assert all("authorization" not in headers for headers in downloads)


async def test_logs_of_a_destroyed_instance_are_unavailable(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    instance_id = fake.plant("hg-job08")
    await provider.terminate(instance_id)

    chunk = await provider.logs(instance_id, since="3:abc")

    assert chunk.available is False and chunk.lines == [] and chunk.cursor == "3:abc"


@pytest.mark.parametrize("unknown_status", [200, 404])
async def test_lost_instance_is_terminated(
    provider: VastAIProvider, fake: FakeVastAICloud, unknown_status: int
) -> None:
    fake.unknown_instance_status = unknown_status
    instance_id = fake.plant("hg-job09")
    fake.lose(instance_id)

    instance = await provider.get_instance(instance_id)

    assert instance.state is InstanceState.TERMINATED and instance.instance_id == instance_id


async def test_instance_stopped_outside_harvestgpu_is_failed(
    provider: VastAIProvider, fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient
) -> None:
    instance_id = fake.plant("hg-job10")
    stop = await http.put(
        f"{base_url}/api/v0/instances/{instance_id}/",
        json={"state": "stopped"},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )
    assert stop.json() == {"success": True}

    assert (await provider.get_instance(instance_id)).state is InstanceState.FAILED


async def test_terminate_destroys_and_is_idempotent(provider: VastAIProvider, fake: FakeVastAICloud) -> None:
    instance = await provider.launch(spec_for(await cheapest(provider), "job11"))

    await provider.terminate(instance.instance_id)
    await provider.terminate(instance.instance_id)
    await provider.terminate("987654321")

    assert fake.deleted_ids() == {instance.instance_id}
    assert fake.instances() == {}
    assert len(requests_to(fake, "DELETE", f"/api/v0/instances/{instance.instance_id}/")) == 2


async def test_list_instances_returns_only_ours_across_pages(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    ours = {fake.plant(f"hg-job{i:02d}") for i in range(30)}
    for name in ("my-notebook", "", "training-hg-like"):
        fake.plant(name)

    listed = await provider.list_instances()

    assert {i.instance_id for i in listed} == ours
    assert all(i.name.startswith("hg-") and i.state is InstanceState.RUNNING for i in listed)
    pages = [p for m, p, _ in fake.requests_seen if m == "GET" and p == "/api/v1/instances/"]
    assert len(pages) == 2


async def test_ids_that_are_not_vast_ids_are_rejected(provider: VastAIProvider) -> None:
    with pytest.raises(ProviderBadRequestError):
        await provider.get_instance("../users/current")


async def test_validate_key_reports_the_credit(provider: VastAIProvider) -> None:
    check = await provider.validate_key()

    assert check.valid is True and check.balance == pytest.approx(42.17)
    assert "fakeuser" in check.message


async def test_validate_with_a_bad_key_raises_auth_error(
    fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient
) -> None:
    bad_key = "vast_NOTTHEKEY0123456789"
    bad = VastAIProvider(api_key=bad_key, http=http, base_url=base_url)

    with pytest.raises(ProviderAuthError) as caught:
        await bad.validate_key()

    assert caught.value.status == 401
    assert bad_key not in str(caught.value) and bad_key not in repr(caught.value)
    assert bad_key not in repr(bad)


async def test_container_that_cannot_start_is_failed(provider: VastAIProvider, fake: FakeVastAICloud) -> None:
    instance = await provider.launch(spec_for(await cheapest(provider), "job12"))
    fake.fail_start(instance.instance_id)

    seen = await provider.get_instance(instance.instance_id)

    assert fake.instances()[instance.instance_id]["actual_status"] == "created"
    assert seen.state is InstanceState.FAILED
    assert seen.message is not None and ": OCI runtime create failed:" in seen.message


async def test_logs_refused_for_one_instance_are_unavailable_not_a_bad_key(
    provider: VastAIProvider, fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient
) -> None:
    instance_id = fake.plant("hg-job13")
    fake.deny_logs(instance_id)

    chunk = await provider.logs(instance_id, since="2:abc")

    assert chunk.available is False and chunk.lines == [] and chunk.cursor == "2:abc"
    refused = await http.put(
        f"{base_url}/api/v0/instances/request_logs/{instance_id}/",
        json={"tail": "1000"},
        headers={"Authorization": f"Bearer {fake.api_key}"},
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "not_authorized",
        "msg": "Not authorized to view logs for this instance",
    }
    assert (await provider.validate_key()).valid is True


async def test_instances_carry_the_job_id_echoed_in_their_env(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    launched = await provider.launch(spec_for(await cheapest(provider), "job14", env={"HF_TOKEN": "hf_abc"}))
    bare = fake.plant("hg-job15")
    foreign = fake.plant("hg-job16", env={"HARVESTGPU_JOB_ID": "not-job16"})

    listed = {i.instance_id: i for i in await provider.list_instances()}

    echoed = fake.instances()[launched.instance_id]["extra_env"]
    assert ["HARVESTGPU_JOB_ID", "job14"] in echoed and ["HF_TOKEN", "hf_abc"] in echoed
    assert listed[launched.instance_id].job_marker == "job14"
    assert listed[bare].job_marker is None
    assert listed[foreign].job_marker == "not-job16"
    assert (await provider.get_instance(launched.instance_id)).job_marker == "job14"
    assert "hf_abc" not in repr(listed)  # only the marker is taken from the echoed env
