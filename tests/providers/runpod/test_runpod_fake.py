"""The fake RunPod itself speaks the documented v2 wire format (raw HTTP, no adapter)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.runpod import FakeRunPodCloud


@pytest.fixture
async def api(fake: FakeRunPodCloud, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        yield client


def _is_problem(resp: httpx.Response, status: int) -> bool:
    body = resp.json()
    return (
        resp.status_code == status
        and resp.headers["content-type"].startswith("application/problem+json")
        and body["status"] == status
        and bool(body["title"])
        and bool(body["detail"])
    )


async def test_missing_and_wrong_keys_get_the_documented_401(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        missing = await anonymous.get("/v2/pods")
        wrong = await anonymous.get("/v2/pods", headers={"Authorization": "Bearer rpa_nope"})
    assert _is_problem(missing, 401)
    assert missing.json() == {"title": "Unauthorized", "status": 401, "detail": "missing bearer token"}
    assert _is_problem(wrong, 401)


async def test_responses_carry_rate_limit_headers(api: httpx.AsyncClient) -> None:
    resp = await api.get("/v2/pods")
    assert resp.json() == {"pods": []}
    assert resp.headers["RateLimit-Policy"].startswith('"minute";q=60;w=60')
    assert "RateLimit" in resp.headers


async def test_catalog_enforces_the_include_and_product_rules(api: httpx.AsyncClient) -> None:
    assert _is_problem(await api.get("/v2/catalog/gpus", params={"include": "AVAILABILITY"}), 400)
    assert _is_problem(await api.get("/v2/catalog/gpus", params={"product": "POD"}), 400)
    plain = await api.get("/v2/catalog/gpus")
    assert plain.status_code == 200
    assert all("availability" not in gpu for gpu in plain.json()["gpus"])
    full = await api.get("/v2/catalog/gpus", params={"include": "AVAILABILITY", "product": "POD"})
    h100 = next(g for g in full.json()["gpus"] if g["id"] == "NVIDIA H100 80GB HBM3")
    assert h100["availability"] == "HIGH"
    assert h100["price"]["secure"] == 2.99
    one = await api.get("/v2/catalog/gpus/NVIDIA%20H100%2080GB%20HBM3")
    assert one.json()["name"] == "H100 SXM"


async def test_create_rejects_unknown_fields_with_422(api: httpx.AsyncClient) -> None:
    body = {"name": "hg-x", "image": "ubuntu", "gpu": {"id": "NVIDIA L40S", "count": 1}, "bogus": 1}
    resp = await api.post("/v2/pods", json=body)
    assert _is_problem(resp, 422)
    assert resp.json()["errors"] == ["$: additional properties 'bogus' not allowed"]


async def test_pod_lifecycle_codes(api: httpx.AsyncClient, fake: FakeRunPodCloud) -> None:
    body = {"name": "hg-x", "image": "ubuntu", "gpu": {"id": "NVIDIA L40S", "count": 2}}
    created = await api.post("/v2/pods", json=body)
    assert created.status_code == 201
    pod = created.json()
    assert pod["status"] == "PROVISIONING" and pod["cost"] == pytest.approx(1.72)
    pod_id = pod["id"]
    assert (await api.get(f"/v2/pods/{pod_id}")).json()["status"] == "PROVISIONING"
    running = (await api.get(f"/v2/pods/{pod_id}")).json()
    assert running["status"] == "RUNNING" and running["runtime"] is not None

    conflict = await api.post(f"/v2/pods/{pod_id}/action", json={"action": "start"})
    assert _is_problem(conflict, 409)
    deleted = await api.delete(f"/v2/pods/{pod_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert _is_problem(await api.delete(f"/v2/pods/{pod_id}"), 404)
    assert _is_problem(await api.get(f"/v2/pods/{pod_id}"), 404)
    assert fake.deleted_ids() == {pod_id}


async def test_unwrapped_container_is_restarted_after_its_command_exits(
    api: httpx.AsyncClient, fake: FakeRunPodCloud
) -> None:
    pod_id = fake.plant("someone-elses-pod")
    fake.finish(pod_id, 0, ["hello"])
    assert (await api.get(f"/v2/pods/{pod_id}")).json()["status"] == "STARTING"
    assert (await api.get(f"/v2/pods/{pod_id}")).json()["status"] == "RUNNING"


async def test_unknown_route_is_a_problem_404(api: httpx.AsyncClient) -> None:
    assert _is_problem(await api.get("/v2/nothing-here"), 404)


async def test_pods_echo_env_on_get_and_list(api: httpx.AsyncClient) -> None:
    env = {"HARVESTGPU_JOB_ID": "01J9Z3K8X2", "HF_TOKEN": "hf_xxx"}
    body = {"name": "hg-x", "image": "ubuntu", "env": env, "gpu": {"id": "NVIDIA L40S", "count": 1}}
    pod_id = (await api.post("/v2/pods", json=body)).json()["id"]
    assert (await api.get(f"/v2/pods/{pod_id}")).json()["env"] == env
    assert [pod["env"] for pod in (await api.get("/v2/pods")).json()["pods"]] == [env]


async def test_scripted_200s_that_are_not_runpod(api: httpx.AsyncClient, fake: FakeRunPodCloud) -> None:
    pod_id = fake.plant("hg-x")
    fake.fail_next("get", "empty_200")
    fake.fail_next("list", "html_200")
    empty = await api.get(f"/v2/pods/{pod_id}")
    assert (empty.status_code, empty.content) == (200, b"")
    page = await api.get("/v2/pods")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (await api.get(f"/v2/pods/{pod_id}")).json()["id"] == pod_id  # one-off
