"""Sign-up, log-in, log-out and the session cookie, through the real app."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tests.conftest import Api
from tests.server.web.helpers import browser, csrf_token, field_errors
from tests.support import data


def _cookie_header(response_headers: list[str], name: str) -> str:
    matches = [h for h in response_headers if h.startswith(name + "=")]
    assert matches, f"no {name} cookie set"
    return matches[0]


async def test_home_sends_visitors_to_login_and_members_to_their_jobs(api: Api) -> None:
    async with browser(api) as visitor:
        response = await visitor.get("/")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        await visitor.sign_up("home@example.com")
        response = await visitor.get("/")
        assert response.status_code == 303 and response.headers["location"] == "/dashboard"


async def test_sign_up_shows_a_working_api_key_once_and_starts_a_session(api: Api) -> None:
    async with browser(api) as visitor:
        page = (await visitor.sign_up("new@example.com")).text
        assert "shown only once" in page and "data-copy" in page
        me = data(await api.client.get("/api/v1/auth/me", headers=visitor.api_headers))
        assert me["email"] == "new@example.com"
        dashboard = await visitor.get("/dashboard")
        assert dashboard.status_code == 200 and "new@example.com" in dashboard.text
        assert visitor.api_key not in dashboard.text
        settings = await visitor.get("/settings")
        assert visitor.api_key not in settings.text and visitor.api_key[:14] in settings.text


async def test_session_cookie_is_httponly_lax_and_secure_only_over_https(api: Api) -> None:
    async with browser(api) as plain:
        response = await plain.submit(
            "/register", "/register", {"email": "http@example.com", "password": "correct-horse"}
        )
        cookie = _cookie_header(response.headers.get_list("set-cookie"), "hg_session").lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    async with browser(api, base_url="https://testserver") as tls:
        response = await tls.submit(
            "/register", "/register", {"email": "https@example.com", "password": "correct-horse"}
        )
        cookie = _cookie_header(response.headers.get_list("set-cookie"), "hg_session").lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "; secure" in cookie


async def test_sign_up_errors_are_shown_next_to_their_fields(api: Api) -> None:
    async with browser(api) as visitor:
        response = await visitor.submit(
            "/register", "/register", {"email": "not-an-email", "password": "short7!"}
        )
        assert response.status_code == 400
        errors = field_errors(response.text)
        assert errors["email"] == "Enter a valid email address."
        assert errors["password"] == "Must be at least 8 characters."
        assert 'value="not-an-email"' in response.text and "short7!" not in response.text
        assert "hg_session" not in response.headers.get("set-cookie", "")


async def test_sign_up_with_a_taken_email_says_so_on_the_email_field(api: Api) -> None:
    await api.register("taken@example.com")
    async with browser(api) as visitor:
        response = await visitor.submit(
            "/register", "/register", {"email": "Taken@Example.com", "password": "correct-horse"}
        )
        assert response.status_code == 400
        assert "already exists" in field_errors(response.text)["email"]


async def test_wrong_password_shows_an_error_and_grants_nothing(api: Api) -> None:
    await api.register("member@example.com", password="correct-horse")
    async with browser(api) as visitor:
        response = await visitor.submit(
            "/login", "/login", {"email": "member@example.com", "password": "wrong-horse"}
        )
        assert response.status_code == 400
        assert field_errors(response.text)["password"] == "Invalid email or password."
        assert 'value="member@example.com"' in response.text
        assert (await visitor.get("/dashboard")).status_code == 303


async def test_an_empty_email_on_login_is_required_not_too_short(api: Api) -> None:
    async with browser(api) as visitor:
        response = await visitor.submit("/login", "/login", {"email": "", "password": "whatever"})
        assert response.status_code == 400
        assert field_errors(response.text)["email"] == "This field is required."
        response = await visitor.submit("/login", "/login", {"email": "ab", "password": "whatever"})
        assert field_errors(response.text)["email"] == "Must be at least 3 characters."


async def test_login_returns_to_the_page_asked_for_but_never_off_site(api: Api) -> None:
    await api.register("back@example.com", password="correct-horse")
    async with browser(api) as visitor:
        response = await visitor.get("/settings")
        assert response.headers["location"] == "/login?next=" + quote("/settings", safe="")
        login = {"email": "back@example.com", "password": "correct-horse"}
        page = await visitor.get(response.headers["location"])
        assert 'name="next" value="/settings"' in page.text
        response = await visitor.client.post(
            "/login", data={**login, "next": "/settings", "csrf_token": csrf_token(page.text)}
        )
        assert response.status_code == 303 and response.headers["location"] == "/settings"
    async with browser(api) as visitor:
        response = await visitor.submit("/login", "/login", {**login, "next": "//evil.example/phish"})
        assert response.headers["location"] == "/dashboard"


async def test_logout_ends_the_session(api: Api) -> None:
    async with browser(api) as visitor:
        await visitor.sign_up("bye@example.com")
        response = await visitor.submit("/dashboard", "/logout", {})
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
        cleared = _cookie_header(response.headers.get_list("set-cookie"), "hg_session")
        assert "max-age=0" in cleared.lower()
        after = await visitor.get("/dashboard")
        assert after.status_code == 303 and after.headers["location"].startswith("/login")


async def test_pages_need_a_session_and_live_fragments_ask_htmx_to_navigate(api: Api) -> None:
    async with browser(api) as visitor:
        for path in ("/dashboard", "/settings", "/jobs/abc123", "/logout"):
            response = await visitor.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login")
        response = await visitor.get("/dashboard/jobs", headers={"HX-Request": "true"})
        assert response.status_code == 401 and response.headers["hx-redirect"].startswith("/login")
        visitor.client.cookies.set("hg_session", "not-a-jwt")
        assert (await visitor.get("/dashboard")).status_code == 303


async def test_an_ended_session_sends_htmx_polling_back_to_the_page_it_was_on(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("polling@example.com")
        job_id = await member.submitted_job_id()
        member.client.cookies.delete("hg_session")  # the session ended while the page was open
        polls = {
            "/dashboard/jobs?status=running&offset=25": "http://testserver/dashboard?status=running",
            f"/jobs/{job_id}/summary": f"http://testserver/jobs/{job_id}",
            f"/jobs/{job_id}/logs?offset=10": f"http://testserver/jobs/{job_id}",
        }
        for fragment, page in polls.items():
            response = await member.get(fragment, headers={"HX-Request": "true", "HX-Current-URL": page})
            assert response.status_code == 401, fragment
            landing = page.removeprefix("http://testserver")
            assert response.headers["hx-redirect"] == "/login?next=" + quote(landing, safe="")
        # Only this site's pages: another origin's address lands on the dashboard.
        for foreign in ("https://evil.example/steal", "http://testserver.evil.example/x", "javascript:x"):
            response = await member.get(
                "/dashboard/jobs", headers={"HX-Request": "true", "HX-Current-URL": foreign}
            )
            assert response.headers["hx-redirect"] == "/login?next=%2Fdashboard"
        # After logging in, the whole page it was on comes back, not a bare fragment.
        login = await member.submit(
            "/login?next=%2Fdashboard%3Fstatus%3Drunning",
            "/login",
            {"email": member.email, "password": "correct-horse-battery", "next": "/dashboard?status=running"},
        )
        assert login.headers["location"] == "/dashboard?status=running"
        page = await member.get(login.headers["location"])
        assert page.status_code == 200 and page.text.startswith("<!doctype html>")


async def test_pages_carry_a_strict_content_security_policy_and_only_local_assets(api: Api) -> None:
    async with browser(api) as visitor:
        pages = [await visitor.get("/login")]
        await visitor.sign_up("csp@example.com")
        pages += [await visitor.get(path) for path in ("/dashboard", "/pricing", "/settings")]
        for response in pages:
            path = response.url.path
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert response.headers["x-frame-options"] == "DENY"
            head = response.text.split("</head>")[0]
            assert re.search(r"<title>[^<>]+ · HarvestGPU</title>", head), path
            assert "<script>" not in response.text and "https://" not in head and "http://" not in head
            for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', head):
                assert (await visitor.get(asset)).status_code == 200, asset


async def test_login_attempts_from_one_address_are_limited_like_the_api(api_factory: Any) -> None:
    limits = {"rate_limit_enabled": True, "login_rate_limit": "2/minute"}
    async with api_factory(**limits) as api, browser(api) as visitor:
        await api.register("limited@example.com", password="correct-horse")
        wrong = {"email": "limited@example.com", "password": "guess-guess"}
        for _ in range(2):
            response = await visitor.submit("/login", "/login", wrong)
            assert field_errors(response.text)["password"] == "Invalid email or password."
        response = await visitor.submit("/login", "/login", {**wrong, "password": "correct-horse"})
        assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
        assert "Too many login attempts from this address" in response.text
        assert "hg_session" not in response.headers.get("set-cookie", "")
