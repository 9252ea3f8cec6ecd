"""Settings: provider keys (add, test, remove; last 4 only) and API keys (shown once, revoke)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.fakes.http_server import serve_app
from tests.fakes.runpod import FakeRunPodCloud
from tests.server.web.helpers import browser, field_errors, form_fields
from tests.support import data

RUNPOD_KEY = "rpa_SECRETSECRETSECRET_7Q2x"


def _provider_row(page: str, provider: str) -> str:
    match = re.search(rf'<tr data-provider="{provider}">(.*?)</tr>', page, re.S)
    assert match, f"no {provider} row"
    return match.group(1)


@pytest.fixture
def runpod_url() -> Iterator[str]:
    with serve_app(FakeRunPodCloud(api_key=RUNPOD_KEY).app()) as url:
        yield url


async def test_a_provider_key_is_shown_by_its_last_4_only(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("keys@example.com")
        assert "No provider keys yet." in (await member.get("/settings")).text
        response = await member.submit(
            "/settings",
            "/settings/provider-keys",
            {"provider": "runpod", "api_key": RUNPOD_KEY, "label": "Team pod"},
        )
        assert response.headers["location"] == "/settings?notice=provider-key-saved#provider-keys"
        page = (await member.get("/settings?notice=provider-key-saved")).text
        row = _provider_row(page, "runpod")
        assert "••••7Q2x" in row and "Team pod" in row and "not tested yet" in row
        for visited in member.pages:
            assert RUNPOD_KEY not in visited and RUNPOD_KEY[:-4] not in visited
        stored = data(await api.client.get("/api/v1/providers/keys", headers=member.api_headers))["keys"]
        assert [(k["provider"], k["last4"]) for k in stored] == [("runpod", "7Q2x")]


async def test_a_refused_provider_key_is_never_echoed_back(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("short@example.com")
        response = await member.submit(
            "/settings", "/settings/provider-keys", {"provider": "runpod", "api_key": "s3cr3t", "label": "x"}
        )
        assert response.status_code == 400
        assert field_errors(response.text)["api_key"] == "Must be at least 8 characters."
        assert "s3cr3t" not in response.text
        response = await member.submit(
            "/settings", "/settings/provider-keys", {"provider": "aws", "api_key": "long-enough-key"}
        )
        assert field_errors(response.text)["provider"].startswith("Must be one of runpod, lambda")
        assert "long-enough-key" not in response.text


async def _settings_member(api: Api, member: Any, api_key: str) -> str:
    await member.sign_up("tester@example.com")
    await member.submit("/settings", "/settings/provider-keys", {"provider": "runpod", "api_key": api_key})
    response = await member.submit("/settings", "/settings/provider-keys/runpod/test", {})
    assert response.headers["location"] == "/settings?notice=provider-key-tested#provider-keys"
    return _provider_row((await member.get("/settings")).text, "runpod")


async def test_testing_a_good_key_shows_it_valid(api_factory: Any, runpod_url: str) -> None:
    async with api_factory(runpod_api_url=runpod_url) as api, browser(api) as member:
        row = await _settings_member(api, member, RUNPOD_KEY)
        assert "outcome-ok" in row and ">valid<" in row


async def test_testing_a_bad_key_shows_the_failure_without_the_key(api_factory: Any, runpod_url: str) -> None:
    wrong = "rpa_WRONGWRONGWRONG_k9Zz"
    async with api_factory(runpod_api_url=runpod_url) as api, browser(api) as member:
        row = await _settings_member(api, member, wrong)
        assert "outcome-bad" in row and ">failed<" in row and "rejected" in row.lower()
        assert wrong not in row and wrong[:-4] not in "".join(member.pages)


async def test_removing_a_provider_key_asks_first_and_then_forgets_it(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("remove@example.com")
        await member.submit(
            "/settings", "/settings/provider-keys", {"provider": "vastai", "api_key": "vast-key-0000"}
        )
        page = (await member.get("/settings")).text
        assert 'action="/settings/provider-keys/vastai/delete" data-confirm="Remove your vastai key?' in page
        response = await member.submit("/settings", "/settings/provider-keys/vastai/delete", {})
        assert response.headers["location"] == "/settings?notice=provider-key-removed#provider-keys"
        page = (await member.get("/settings")).text
        assert 'data-provider="vastai"' not in page and "No provider keys yet." in page
        response = await member.submit("/settings", "/settings/provider-keys/vastai/delete", {})
        assert response.status_code == 404


async def test_an_api_key_is_shown_once_with_a_copy_button_and_can_be_revoked(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("apikeys@example.com")
        response = await member.submit("/settings", "/settings/api-keys", {"name": "laptop"})
        assert response.status_code == 200
        created = re.search(
            r'<div class="callout".*?value="(hg_live_[^"]+)".*?data-copy', response.text, re.S
        )
        assert created, "the new key is not shown with a copy button"
        new_key = created.group(1)
        assert data(await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new_key}"}))

        page = (await member.get("/settings")).text
        assert new_key not in page and new_key[:14] + "…" in page
        key_id = re.search(r'<tr data-key-id="(\w+)">\s*<td>laptop</td>', page)
        assert key_id, "the laptop key is not listed"
        assert f'action="/settings/api-keys/{key_id.group(1)}/revoke" data-confirm=' in page
        response = await member.submit("/settings", f"/settings/api-keys/{key_id.group(1)}/revoke", {})
        assert response.headers["location"] == "/settings?notice=api-key-revoked#api-keys"
        revoked = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new_key}"})
        assert revoked.status_code == 401
        assert "<td>laptop</td>" not in (await member.get("/settings")).text


async def test_an_api_key_name_that_is_too_long_is_refused_next_to_the_field(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("longname@example.com")
        response = await member.submit("/settings", "/settings/api-keys", {"name": "x" * 101})
        assert response.status_code == 400
        assert field_errors(response.text)["name"] == "Must be at most 100 characters."


async def test_sending_the_same_api_key_form_twice_creates_one_key(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("twice@example.com")
        form = {**form_fields((await member.get("/settings")).text, "/settings/api-keys"), "name": "ci"}
        assert form.get("submit_token")
        first = await member.client.post("/settings/api-keys", data=form)
        assert first.status_code == 200
        shown = re.search(r'value="(hg_live_[^"]+)"', first.text)
        assert shown, "the new key is not shown"
        # A reload of that answer (or a second click) posts the same rendered form again.
        again = await member.client.post("/settings/api-keys", data=form)
        assert again.status_code == 303
        assert again.headers["location"] == "/settings?notice=api-key-already-created#api-keys"
        page = (await member.get(again.headers["location"])).text
        assert "no second key was created" in page and shown.group(1) not in page
        assert page.count("<td>ci</td>") == 1
        # A freshly rendered form creates a new key as usual.
        fresh = {**form_fields(page, "/settings/api-keys"), "name": "ci"}
        assert (await member.client.post("/settings/api-keys", data=fresh)).status_code == 200
        assert (await member.get("/settings")).text.count("<td>ci</td>") == 2


async def test_the_answer_to_a_settings_form_shows_the_settings_url(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("address@example.com")
        for path, section in (
            ("/settings/api-keys", "#api-keys"),
            ("/settings/webhooks", "#webhooks"),
            ("/settings/provider-keys", "#provider-keys"),
        ):
            response = await member.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/settings" + section
        created = await member.submit("/settings", "/settings/api-keys", {"name": "laptop"})
        assert '<meta name="hg-canonical-url" content="/settings">' in created.text
        refused = await member.submit(
            "/settings", "/settings/provider-keys", {"provider": "runpod", "api_key": "x"}
        )
        assert refused.status_code == 400
        assert '<meta name="hg-canonical-url" content="/settings">' in refused.text
        assert "hg-canonical-url" not in (await member.get("/settings")).text
