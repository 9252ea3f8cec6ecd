"""Webhooks in Settings: secret shown once, errors next to fields, deliveries, resend, delete."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Api
from tests.server.web.helpers import Browser, browser, field_errors, form_fields
from tests.support import data

HOOK_URL = "http://127.0.0.1:9/hooks/harvest"


async def _create_hook(member: Browser, **fields: Any) -> str:
    page = (await member.get("/settings")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {
        "csrf_token": token.group(1),
        "url": fields.get("url", HOOK_URL),
        "events": fields.get("events", ["job.completed", "job.stopped"]),
    }
    response = await member.client.post("/settings/webhooks", data=form)
    member.pages.append(response.text)
    return response.text


async def test_a_webhook_secret_is_shown_once_and_deliveries_can_be_resent(api_factory: Any) -> None:
    async with api_factory(webhook_allow_private=True) as api, browser(api) as member:
        await member.sign_up("hooks@example.com")
        assert "No webhooks." in (await member.get("/settings")).text
        created = await _create_hook(member)
        secret = re.search(r'value="(whsec_[^"]+)"', created)
        assert secret and "data-copy" in created
        hooks = data(await api.client.get("/api/v1/webhooks", headers=member.api_headers))["webhooks"]
        assert [(h["url"], h["events"]) for h in hooks] == [(HOOK_URL, ["job.completed", "job.stopped"])]
        page = (await member.get("/settings")).text
        assert secret.group(1) not in page and HOOK_URL in page
        hook_id = hooks[0]["id"]
        assert "No deliveries yet." in (await member.get(f"/settings/webhooks/{hook_id}")).text

        job_id = await member.submitted_job_id(gpu="T4")
        await api.run_until(member.as_api_user, job_id, "running")
        await member.submit(f"/jobs/{job_id}", f"/jobs/{job_id}/stop", {})
        deliveries = (await member.get(f"/settings/webhooks/{hook_id}")).text
        rows = re.findall(r'<tr data-delivery-id="(\w+)">\s*<td>([\w.]+)', deliveries)
        assert [event for _, event in rows] == ["job.stopped"]
        assert f'"job_id": "{job_id}"' in deliveries

        response = await member.submit(
            f"/settings/webhooks/{hook_id}",
            f"/settings/webhooks/{hook_id}/deliveries/{rows[0][0]}/resend",
            {},
        )
        # No worker runs here, so that delivery is still pending: a resend would only send it twice.
        assert response.headers["location"] == f"/settings/webhooks/{hook_id}?notice=delivery-pending"
        deliveries = (await member.get(response.headers["location"])).text
        assert "still being delivered" in deliveries
        assert len(re.findall(r'<tr data-delivery-id="\w+">', deliveries)) == 1

        page = (await member.get("/settings")).text
        assert f'action="/settings/webhooks/{hook_id}/delete" data-confirm="Delete the webhook' in page
        response = await member.submit("/settings", f"/settings/webhooks/{hook_id}/delete", {})
        assert response.headers["location"] == "/settings?notice=webhook-deleted#webhooks"
        assert data(await api.client.get("/api/v1/webhooks", headers=member.api_headers))["webhooks"] == []


async def test_webhook_form_errors_sit_next_to_their_fields(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("hookerrors@example.com")
        errors = field_errors(await _create_hook(member, url="", events=[]))
        assert errors == {"url": "This field is required.", "events": "Choose at least one event."}
        page = await _create_hook(member, url="http://127.0.0.1:8080/hook")
        assert (
            "loopback" in field_errors(page)["url"].lower() or "private" in field_errors(page)["url"].lower()
        )
        assert 'value="http://127.0.0.1:8080/hook"' in page
        page = await _create_hook(member, url="https://example.com/h", events=["job.exploded"])
        assert field_errors(page)["events"].startswith("Unknown event 'job.exploded'; known events:")
        assert data(await api.client.get("/api/v1/webhooks", headers=member.api_headers))["webhooks"] == []


async def test_another_members_webhook_deliveries_are_not_found(api_factory: Any) -> None:
    async with api_factory(webhook_allow_private=True) as api:
        async with browser(api) as owner, browser(api) as other:
            await owner.sign_up("owner@example.com")
            await other.sign_up("other@example.com")
            await _create_hook(owner)
            hooks = data(await api.client.get("/api/v1/webhooks", headers=owner.api_headers))["webhooks"]
            hook_id = hooks[0]["id"]
            assert (await other.get(f"/settings/webhooks/{hook_id}")).status_code == 404
            response = await other.submit("/settings", f"/settings/webhooks/{hook_id}/delete", {})
            assert response.status_code == 404
            still = data(await api.client.get("/api/v1/webhooks", headers=owner.api_headers))["webhooks"]
            assert [h["id"] for h in still] == [hook_id]


async def test_sending_the_same_webhook_form_twice_creates_one_webhook(api_factory: Any) -> None:
    async with api_factory(webhook_allow_private=True) as api, browser(api) as member:
        await member.sign_up("hooktwice@example.com")
        form: dict[str, Any] = {
            **form_fields((await member.get("/settings")).text, "/settings/webhooks"),
            "url": HOOK_URL,
            "events": ["job.completed"],
        }
        assert form.get("submit_token")
        first = await member.client.post("/settings/webhooks", data=form)
        assert first.status_code == 200 and "signing secret" in first.text
        again = await member.client.post("/settings/webhooks", data=form)
        assert again.status_code == 303
        assert again.headers["location"] == "/settings?notice=webhook-already-created#webhooks"
        assert "no second webhook was created" in (await member.get(again.headers["location"])).text
        hooks = data(await api.client.get("/api/v1/webhooks", headers=member.api_headers))["webhooks"]
        assert len(hooks) == 1


async def test_a_pending_delivery_offers_no_resend(api_factory: Any) -> None:
    async with api_factory(webhook_allow_private=True) as api, browser(api) as member:
        await member.sign_up("pending@example.com")
        await _create_hook(member)
        hook_id = data(await api.client.get("/api/v1/webhooks", headers=member.api_headers))["webhooks"][0][
            "id"
        ]
        job_id = await member.submitted_job_id(gpu="T4")
        await api.run_until(member.as_api_user, job_id, "running")
        await member.submit(f"/jobs/{job_id}", f"/jobs/{job_id}/stop", {})
        page = (await member.get(f"/settings/webhooks/{hook_id}")).text
        rows = re.findall(r'<tr data-delivery-id="(\w+)">(.*?)</tr>', page, re.S)
        assert len(rows) == 1 and 'class="delivery delivery-pending"' in rows[0][1]
        assert "/resend" not in rows[0][1] and ">Resend<" not in rows[0][1]
        assert "Resend when finished" in rows[0][1]
