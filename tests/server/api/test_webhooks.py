"""Webhook registration: validation, private targets, secrets shown once, ownership."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest

from harvestgpu.server.services import webhook_targets
from tests.conftest import Api
from tests.support import data, error

PUBLIC_URL = "https://93.184.215.14/harvestgpu"  # a public address literal: no DNS needed


async def create(api: Api, user: dict[str, Any], body: dict[str, Any]) -> Any:
    return await api.client.post("/api/v1/webhooks", headers=user["headers"], json=body)


async def test_create_list_and_delete_a_webhook_as_spec_shows(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await api.register()
    made = data(await create(api, user, {"url": PUBLIC_URL, "events": "job.completed,job.failed"}), 201)
    assert made["url"] == PUBLIC_URL and made["events"] == ["job.completed", "job.failed"]
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40

    listed = data(await api.client.get("/api/v1/webhooks", headers=user["headers"]))["webhooks"]
    assert [h["id"] for h in listed] == [made["id"]]
    assert "secret" not in listed[0] and made["secret"] not in str(listed)
    assert made["secret"] not in caplog.text

    gone = data(await api.client.delete(f"/api/v1/webhooks/{made['id']}", headers=user["headers"]))
    assert gone == {"id": made["id"], "deleted": True}
    assert data(await api.client.get("/api/v1/webhooks", headers=user["headers"]))["webhooks"] == []
    error(await api.client.delete(f"/api/v1/webhooks/{made['id']}", headers=user["headers"]), 404)


async def test_events_may_be_a_list_and_default_to_every_event(api_sqlite: Api) -> None:
    api = api_sqlite
    user = await api.register()
    as_list = data(
        await create(api, user, {"url": PUBLIC_URL, "events": ["job.stopped", "budget.exceeded"]}), 201
    )
    assert as_list["events"] == ["job.stopped", "budget.exceeded"]
    everything = data(await create(api, user, {"url": PUBLIC_URL}), 201)
    assert set(everything["events"]) == {
        "job.running",
        "job.completed",
        "job.failed",
        "job.stopped",
        "budget.exceeded",
    }


INVALID = [
    ({"url": "ftp://example.com/x", "events": "job.completed"}, "http"),
    ({"url": "not a url", "events": "job.completed"}, "url"),
    ({"url": "https://a..b.com/x", "events": "job.completed"}, "host name"),
    ({"url": "https://.example.com/x", "events": "job.completed"}, "host name"),
    ({"url": f"https://{'a' * 64}.com/x", "events": "job.completed"}, "host name"),
    ({"url": f"https://{'a.' * 130}com/x", "events": "job.completed"}, "host name"),
    ({"url": "https://exa mple.com/x", "events": "job.completed"}, "host name"),
    ({"url": "https://-bad-.com/x", "events": "job.completed"}, "host name"),
    ({"url": "https://exa_mple.com/x", "events": "job.completed"}, "host name"),
    ({"url": "https://example.com:99999/x", "events": "job.completed"}, "port"),
    ({"url": PUBLIC_URL, "events": "job.completed,job.exploded"}, "job.exploded"),
    ({"url": PUBLIC_URL, "events": ""}, "events"),
    ({"events": "job.completed"}, "url"),
    ({"url": PUBLIC_URL, "events": "job.completed", "secret": "mine"}, "secret"),
]
PRIVATE = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.100.100.200/",
    "http://[::1]/hook",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
]


async def test_invalid_webhooks_are_a_400_naming_the_problem(api_sqlite: Api) -> None:
    user = await api_sqlite.register()
    for body, mentions in INVALID:
        assert mentions in error(await create(api_sqlite, user, body), 400), body


async def test_private_loopback_and_metadata_targets_are_refused_by_default(api_sqlite: Api) -> None:
    user = await api_sqlite.register()
    for url in PRIVATE:
        message = error(await create(api_sqlite, user, {"url": url, "events": "job.completed"}), 400)
        assert message.startswith("Field 'url'") and "public address" in message, url
    assert data(await api_sqlite.client.get("/api/v1/webhooks", headers=user["headers"]))["webhooks"] == []


async def test_private_targets_are_accepted_when_allowed(api_factory: Any) -> None:
    async with api_factory(webhook_allow_private=True) as api:
        user = await api.register()
        made = data(await create(api, user, {"url": "http://127.0.0.1:9/hook", "events": "job.failed"}), 201)
    assert made["url"] == "http://127.0.0.1:9/hook"


async def test_other_users_webhooks_and_deliveries_are_not_found(api: Api) -> None:
    owner, other = await api.register(), await api.register()
    made = data(await create(api, owner, {"url": PUBLIC_URL, "events": "job.completed"}), 201)
    assert data(await api.client.get("/api/v1/webhooks", headers=other["headers"]))["webhooks"] == []
    error(await api.client.delete(f"/api/v1/webhooks/{made['id']}", headers=other["headers"]), 404)
    error(await api.client.get(f"/api/v1/webhooks/{made['id']}/deliveries", headers=other["headers"]), 404)
    assert data(await api.client.get("/api/v1/webhooks", headers=owner["headers"]))["webhooks"] != []


async def test_webhooks_require_authentication(api_sqlite: Api) -> None:
    error(await api_sqlite.client.get("/api/v1/webhooks"), 401)
    error(await api_sqlite.client.post("/api/v1/webhooks", json={"url": PUBLIC_URL}), 401)


async def test_the_number_of_webhooks_per_account_is_bounded(api_sqlite: Api) -> None:
    api = api_sqlite
    user = await api.register()
    for _ in range(20):
        data(await create(api, user, {"url": PUBLIC_URL, "events": "job.completed"}), 201)
    assert "At most 20" in error(await create(api, user, {"url": PUBLIC_URL, "events": "job.failed"}), 409)


async def test_names_that_resolve_to_loopback_are_refused_and_public_targets_keep_their_name() -> None:
    with pytest.raises(webhook_targets.TargetRefused, match="public address"):
        await webhook_targets.check_new("http://localhost./hook", allow_private=False)
    with pytest.raises(webhook_targets.TargetRefused, match="public address"):
        await webhook_targets.pin("http://api.localhost:8080/hook", allow_private=False)
    assert await webhook_targets.check_new("http://localhost/hook", allow_private=True)
    pinned = await webhook_targets.pin(PUBLIC_URL, allow_private=False)
    assert str(pinned.url) == PUBLIC_URL and pinned.host_header is None
    assert webhook_targets.is_public(ipaddress.ip_address("93.184.215.14"))
    assert not webhook_targets.is_public(ipaddress.ip_address("224.0.0.1"))


async def test_failed_and_stopped_jobs_queue_their_events(api_factory: Any) -> None:
    async with api_factory(mock_no_capacity="T4", mock_job_seconds=60) as api:
        user = await api.register()
        hook = data(await create(api, user, {"url": PUBLIC_URL}), 201)
        unplaceable = data(
            await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "T4"}), 201
        )
        await api.run_until(user, unplaceable["id"], "failed")
        queued = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "L4"}), 201)
        data(await api.client.post(f"/api/v1/jobs/{queued['id']}/stop", headers=user["headers"]))
        listed = data(
            await api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=user["headers"])
        )
    payloads = {d["payload"]["job_id"]: d["payload"] for d in listed["deliveries"]}
    assert payloads[unplaceable["id"]] | {"timestamp": None} == {
        "event": "job.failed",
        "job_id": unplaceable["id"],
        "gpu_type": "T4",
        "provider": None,
        "total_cost": 0.0,
        "status": "failed",
        "timestamp": None,
    }
    assert payloads[queued["id"]]["event"] == "job.stopped" and payloads[queued["id"]]["status"] == "stopped"
    assert {d["status"] for d in listed["deliveries"]} == {"pending"}
    assert hook["secret"] not in str(listed)
