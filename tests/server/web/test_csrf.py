"""Every dashboard form is refused without the CSRF token of the caller's own session."""

from __future__ import annotations

from tests.conftest import Api
from tests.server.web.helpers import JOB_FORM, browser, csrf_token
from tests.support import data


async def test_forms_posted_without_a_token_change_nothing(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("csrf@example.com")
        job_id = await member.submitted_job_id()
        await api.run_until(member.as_api_user, job_id, "running")
        attempts = {
            "/dashboard/jobs": JOB_FORM,
            f"/jobs/{job_id}/stop": {},
            "/settings/provider-keys": {"provider": "runpod", "api_key": "rpa_FORGED_KEY_1234"},
            "/settings/api-keys": {"name": "forged"},
            "/logout": {},
        }
        for path, fields in attempts.items():
            response = await member.client.post(path, data=fields)
            assert response.status_code == 403, path
            assert "Form refused" in response.text, path
        jobs = data(await api.client.get("/api/v1/jobs", headers=member.api_headers))
        assert jobs["total"] == 1 and jobs["jobs"][0]["status"] == "running"
        keys = data(await api.client.get("/api/v1/providers/keys", headers=member.api_headers))["keys"]
        assert keys == []
        api_keys = data(await api.client.get("/api/v1/auth/keys", headers=member.api_headers))["keys"]
        assert [k["name"] for k in api_keys] == ["default"]
        assert (await member.get("/dashboard")).status_code == 200  # still signed in


async def test_a_token_from_another_session_is_refused(api: Api) -> None:
    async with browser(api) as attacker, browser(api) as victim:
        await attacker.sign_up("attacker@example.com")
        await victim.sign_up("victim@example.com")
        attackers_token = csrf_token((await attacker.get("/settings")).text)
        response = await victim.client.post(
            "/settings/api-keys", data={"name": "planted", "csrf_token": attackers_token}
        )
        assert response.status_code == 403
        api_keys = data(await api.client.get("/api/v1/auth/keys", headers=victim.api_headers))["keys"]
        assert [k["name"] for k in api_keys] == ["default"]


async def test_login_and_sign_up_forms_need_a_token_too(api: Api) -> None:
    await api.register("login-csrf@example.com", password="correct-horse")
    async with browser(api) as visitor:
        response = await visitor.client.post(
            "/login", data={"email": "login-csrf@example.com", "password": "correct-horse"}
        )
        assert response.status_code == 403 and "hg_session" not in response.headers.get("set-cookie", "")
        response = await visitor.client.post(
            "/register", data={"email": "forced@example.com", "password": "correct-horse"}
        )
        assert response.status_code == 403
    login = await api.client.post(
        "/api/v1/auth/login", json={"email": "forced@example.com", "password": "correct-horse"}
    )
    assert login.status_code == 401
