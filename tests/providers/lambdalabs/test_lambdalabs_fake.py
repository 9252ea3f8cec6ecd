"""The fake Lambda cloud itself speaks the documented wire format (raw HTTP, no adapter)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.providers.lambdalabs.conftest import AgentReceiver

INVALID_KEY_BODY = {
    "error": {
        "code": "global/invalid-api-key",
        "message": "API key was invalid, expired, or deleted.",
        "suggestion": "Check your API key or create a new one, then try again.",
    }
}


def bearer(fake: FakeLambdaCloud) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.api_key}"}


async def test_requests_without_a_valid_key_get_the_documented_401(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    missing = await http.get(f"{fake_url}/api/v1/instances")
    wrong = await http.get(f"{fake_url}/api/v1/instances", headers={"Authorization": "Bearer secret_nope"})
    wrong_basic = await http.get(f"{fake_url}/api/v1/instances", auth=("secret_nope", ""))

    for response in (missing, wrong, wrong_basic):
        assert response.status_code == 401
        assert response.json() == INVALID_KEY_BODY


async def test_bearer_and_basic_key_colon_are_both_accepted(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    basic = base64.b64encode(f"{fake.api_key}:".encode()).decode()

    via_bearer = await http.get(f"{fake_url}/api/v1/instance-types", headers=bearer(fake))
    via_basic = await http.get(
        f"{fake_url}/api/v1/instance-types", headers={"Authorization": f"Basic {basic}"}
    )

    assert via_bearer.status_code == via_basic.status_code == 200
    types = via_bearer.json()["data"]
    assert isinstance(types, dict)
    item = types["gpu_1x_h100_pcie"]
    assert item["instance_type"]["price_cents_per_hour"] == 249
    assert item["instance_type"]["specs"] == {"vcpus": 26, "memory_gib": 200, "storage_gib": 1024, "gpus": 1}
    assert item["regions_with_capacity_available"][0] == {"name": "us-east-1", "description": "Virginia, USA"}


async def test_launch_validation_answers_in_lambda_error_shapes(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    url = f"{fake_url}/api/v1/instance-operations/launch"
    await http.post(
        f"{fake_url}/api/v1/ssh-keys",
        json={"name": "k1", "public_key": "ssh-ed25519 AAAA"},
        headers=bearer(fake),
    )
    base = {"region_name": "us-east-1", "instance_type_name": "gpu_1x_a10", "ssh_key_names": ["k1"]}

    two_keys = await http.post(url, json={**base, "ssh_key_names": ["k1", "k2"]}, headers=bearer(fake))
    unknown_key = await http.post(url, json={**base, "ssh_key_names": ["nope"]}, headers=bearer(fake))
    long_name = await http.post(url, json={**base, "name": "x" * 65}, headers=bearer(fake))
    typo = await http.post(url, json={**base, "instance_type_name": "gpu_1x_typo"}, headers=bearer(fake))
    wrong_region = await http.post(url, json={**base, "region_name": "us-west-3"}, headers=bearer(fake))
    ok = await http.post(url, json={**base, "name": "hg-raw"}, headers=bearer(fake))

    assert two_keys.status_code == 400
    assert two_keys.json()["field_errors"]["ssh_key_names"]["code"] == "global/invalid-parameters"
    assert (unknown_key.status_code, unknown_key.json()["error"]["code"]) == (
        404,
        "global/object-does-not-exist",
    )
    assert long_name.status_code == 400 and "name" in long_name.json()["field_errors"]
    assert (
        typo.json()["field_errors"]["instance_type_name"]["message"] == "Unknown instance type: gpu_1x_typo"
    )
    assert wrong_region.json()["error"]["code"] == "instance-operations/launch/insufficient-capacity"
    [instance_id] = ok.json()["data"]["instance_ids"]
    assert list(fake.instances()) == [instance_id]
    assert len(fake.launch_bodies) == 6


@pytest.mark.parametrize("terminating_reads", [0, 1, 3])
async def test_instance_lifecycle_reads_booting_active_terminating_terminated_then_404(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient, terminating_reads: int
) -> None:
    fake.terminating_reads = terminating_reads
    instance_id = fake.plant("hg-raw", tags={"harvestgpu-job-id": "raw"})
    fake.instances()[instance_id]["status"] = "mutated copy"  # instances() hands out copies
    url = f"{fake_url}/api/v1/instances/{instance_id}"

    active = (await http.get(url, headers=bearer(fake))).json()["data"]
    terminate_url = f"{fake_url}/api/v1/instance-operations/terminate"
    terminated = await http.post(terminate_url, json={"instance_ids": [instance_id]}, headers=bearer(fake))
    listed = (await http.get(f"{fake_url}/api/v1/instances", headers=bearer(fake))).json()["data"]
    statuses = [(await http.get(url, headers=bearer(fake))).json() for _ in range(terminating_reads + 2)]

    assert (active["status"], active["ip"] is not None) == ("active", True)
    assert active["tags"] == [{"key": "harvestgpu-job-id", "value": "raw"}]
    assert [i["status"] for i in terminated.json()["data"]["terminated_instances"]] == ["terminating"]
    assert [i["status"] for i in listed] == ["terminating"]
    assert [s.get("data", {}).get("status") for s in statuses[:-1]] == [
        *["terminating"] * terminating_reads,
        "terminated",
    ]
    assert statuses[-1]["error"]["code"] == "global/object-does-not-exist"
    assert fake.deleted_ids() == {instance_id}


async def test_launch_tags_are_echoed_in_instance_records(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    await http.post(
        f"{fake_url}/api/v1/ssh-keys",
        json={"name": "k1", "public_key": "ssh-ed25519 AAAA"},
        headers=bearer(fake),
    )
    tags = [{"key": "byok-router", "value": "1"}, {"key": "harvestgpu-job-id", "value": "01HZX3K9Q2"}]
    launched = await http.post(
        f"{fake_url}/api/v1/instance-operations/launch",
        json={
            "region_name": "us-east-1",
            "instance_type_name": "gpu_1x_a10",
            "ssh_key_names": ["k1"],
            "tags": tags,
        },
        headers=bearer(fake),
    )
    [instance_id] = launched.json()["data"]["instance_ids"]

    one = (await http.get(f"{fake_url}/api/v1/instances/{instance_id}", headers=bearer(fake))).json()["data"]
    [listed] = (await http.get(f"{fake_url}/api/v1/instances", headers=bearer(fake))).json()["data"]

    assert one["tags"] == listed["tags"] == tags


@pytest.mark.parametrize(("switch", "header"), [(None, None), (1, "1")])
async def test_rate_limit_fault_is_a_non_json_429_with_retry_after_only_when_switched_on(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient, switch: int | None, header: str | None
) -> None:
    fake.rate_limit_retry_after_s = switch
    fake.fail_next("list", "rate_limit", times=2)
    url = f"{fake_url}/api/v1/instances"

    answers = [await http.get(url, headers=bearer(fake)) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers.get("retry-after") == header
    with pytest.raises(ValueError):
        answers[0].json()


def test_fail_next_rejects_unknown_ops_faults_and_launch_only_faults(fake: FakeLambdaCloud) -> None:
    with pytest.raises(ValueError):
        fake.fail_next("reboot", "auth")
    with pytest.raises(ValueError):
        fake.fail_next("get", "meteor")
    with pytest.raises(ValueError):
        fake.fail_next("get", "no_capacity")


async def test_generated_ssh_keys_return_a_private_key_once(
    fake: FakeLambdaCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    created = await http.post(f"{fake_url}/api/v1/ssh-keys", json={"name": "gen"}, headers=bearer(fake))
    again = await http.post(f"{fake_url}/api/v1/ssh-keys", json={"name": "gen"}, headers=bearer(fake))
    listed = await http.get(f"{fake_url}/api/v1/ssh-keys", headers=bearer(fake))

    assert "PRIVATE KEY" in created.json()["data"]["private_key"]
    assert (again.status_code, again.json()["error"]["code"]) == (409, "global/duplicate")
    assert [set(k) for k in listed.json()["data"]] == [{"id", "name", "public_key"}]


def test_finish_without_an_agent_url_posts_nothing(
    fake: FakeLambdaCloud, agent_receiver: tuple[AgentReceiver, str]
) -> None:
    receiver, _ = agent_receiver
    instance_id = fake.plant("hg-no-agent")

    fake.finish(instance_id, 0, ["done"])

    assert fake.agent_posts == [] and receiver.posts == []
    assert fake.instances()[instance_id]["status"] == "active"
