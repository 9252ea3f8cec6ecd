"""The fake TensorDock cloud itself: it must hold adapters to the documented rules."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.tensordock import FakeTensorDockCloud


@pytest.fixture
async def api(fake: FakeTensorDockCloud, fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=f"{fake_url}/api/v2", headers=headers) as client:
        yield client


async def a_valid_body(api: httpx.AsyncClient) -> dict[str, Any]:
    location = (await api.get("/locations")).json()["data"]["locations"][0]
    return {
        "data": {
            "type": "virtualmachine",
            "attributes": {
                "name": "hg-fake-test",
                "type": "virtualmachine",
                "image": "ubuntu2404",
                "resources": {
                    "vcpu_count": 8,
                    "ram_gb": 32,
                    "storage_gb": 100,
                    "gpus": {location["gpus"][0]["v0Name"]: {"count": 1}},
                },
                "location_id": location["id"],
                "ssh_key": "ssh-ed25519 AAAA test",
                "cloud_init": {"runcmd": ["true"]},
            },
        }
    }


@pytest.mark.parametrize("auth", [None, "Bearer td_wrong", "td_FAKEKEY0123456789abcdef"])
async def test_missing_or_wrong_token_gets_401(fake_url: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{fake_url}/api/v2/instances", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == 401 and response.json()["error"]


async def test_locations_and_hostnodes_use_the_documented_field_names(api: httpx.AsyncClient) -> None:
    location = (await api.get("/locations")).json()["data"]["locations"][0]
    assert {"id", "city", "stateprovince", "country", "tier", "gpus"} <= set(location)
    gpu = location["gpus"][0]
    assert {"v0Name", "displayName", "max_count", "price_per_hr", "resources", "pricing"} <= set(gpu)
    assert set(gpu["pricing"]) == {"per_vcpu_hr", "per_gb_ram_hr", "per_gb_storage_hr"}
    node = (await api.get("/hostnodes")).json()["data"]["hostnodes"][0]
    assert {"availableCount", "v0Name", "price_per_hr"} <= set(node["available_resources"]["gpus"][0])
    assert node["available_resources"]["available_ports"]
    assert (await api.get(f"/hostnodes/{node['id']}")).json()["data"]["id"] == node["id"]


@pytest.mark.parametrize(
    ("change", "wording"),
    [
        (lambda a: a.update(ssh_key_id="secret-1"), "ssh_key"),
        (lambda a: a.pop("ssh_key"), "ssh_key"),
        (lambda a: a.update(hostnode_id="h-1"), "location_id or hostnode_id"),
        (lambda a: a["resources"].update(storage_gb=50), "Minimum storage"),
        (lambda a: a["resources"].update(gpus={}), "GPU"),
        (
            lambda a: a["resources"].update(gpus={next(iter(a["resources"]["gpus"])): {"count": 99}}),
            "Not enough",
        ),
        (lambda a: a.update(cloud_init="#cloud-config"), "cloud_init"),
        (lambda a: a.update(image="debian"), "image"),
    ],
)
async def test_create_validates_like_the_docs(
    api: httpx.AsyncClient, fake: FakeTensorDockCloud, change: Any, wording: str
) -> None:
    body = await a_valid_body(api)
    change(body["data"]["attributes"])
    response = await api.post("/instances", json=body)
    assert response.status_code == 400 and wording in response.json()["error"]
    assert fake.instances() == {}


async def test_hostnode_deploys_need_an_available_port(api: httpx.AsyncClient) -> None:
    node = (await api.get("/hostnodes")).json()["data"]["hostnodes"][0]
    body = await a_valid_body(api)
    attrs = body["data"]["attributes"]
    del attrs["location_id"]
    attrs["hostnode_id"] = node["id"]
    attrs["resources"]["gpus"] = {node["available_resources"]["gpus"][0]["v0Name"]: {"count": 1}}
    port = node["available_resources"]["available_ports"][0]
    attrs["port_forwards"] = [{"internal_port": 22, "external_port": 1}]
    assert (await api.post("/instances", json=body)).status_code == 400
    attrs["port_forwards"] = [{"internal_port": 22, "external_port": port}]
    created = await api.post("/instances", json=copy.deepcopy(body))
    assert created.status_code == 200
    iid = created.json()["data"]["id"]
    assert (await api.get(f"/instances/{iid}")).json()["portForwards"] == attrs["port_forwards"]


async def test_stop_start_and_delete_follow_the_documented_statuses(
    api: httpx.AsyncClient, fake: FakeTensorDockCloud
) -> None:
    created = (await api.post("/instances", json=await a_valid_body(api))).json()["data"]
    assert created["status"] == "starting"
    iid = created["id"]
    assert (await api.get(f"/instances/{iid}")).json()["status"] == "starting"
    assert (await api.get(f"/instances/{iid}")).json()["status"] == "running"
    stop = await api.post(f"/instances/{iid}/stop")
    assert stop.json()["data"]["attributes"]["status"] == "stopping"
    assert (await api.get(f"/instances/{iid}")).json()["status"] == "stopping"
    assert (await api.get(f"/instances/{iid}")).json()["status"] == "Stopped"
    assert (await api.post(f"/instances/{iid}/start")).json()["data"]["attributes"]["status"] == "starting"
    deleted = await api.delete(f"/instances/{iid}")
    assert deleted.json()["data"]["attributes"]["message"] == "Instance deleted successfully"
    assert (await api.get(f"/instances/{iid}")).status_code == 404
    assert (await api.delete(f"/instances/{iid}")).status_code == 404
    assert fake.deleted_ids() == {iid}


async def test_balance_errors_arrive_as_http_200_bodies(
    api: httpx.AsyncClient, fake: FakeTensorDockCloud
) -> None:
    fake.fail_next("launch", "balance")
    response = await api.post("/instances", json=await a_valid_body(api))
    assert response.status_code == 200
    assert response.json() == {"error": "Insufficient balance: you need at least $1.00", "status": 400}
    assert fake.instances() == {}


def test_scripting_rejects_unknown_ops_faults_and_gpus() -> None:
    fake = FakeTensorDockCloud()
    with pytest.raises(ValueError):
        fake.fail_next("reboot", "auth")
    with pytest.raises(ValueError):
        fake.fail_next("get", "meteor")
    with pytest.raises(KeyError):
        fake.set_capacity("TPU-V5", False)


def test_finish_without_an_agent_url_posts_nothing() -> None:
    fake = FakeTensorDockCloud()
    iid = fake.plant("hg-no-agent")
    fake.finish(iid, 0, ["done"])
    assert fake.agent_posts == []
    assert fake.instances()[iid]["status"] == "running"


async def test_scripted_200s_that_are_not_tensordock(
    api: httpx.AsyncClient, fake: FakeTensorDockCloud
) -> None:
    iid = fake.plant("hg-x")
    fake.fail_next("get", "empty_200")
    fake.fail_next("list", "html_200")
    empty = await api.get(f"/instances/{iid}")
    assert (empty.status_code, empty.content) == (200, b"")
    page = await api.get("/instances")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (await api.get(f"/instances/{iid}")).json()["id"] == iid  # one-off
