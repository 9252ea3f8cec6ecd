"""Signing out ends the session on the server: a copied session cookie stops working."""

from __future__ import annotations

from tests.conftest import Api
from tests.server.web.helpers import browser


async def test_a_copied_session_cookie_is_refused_after_sign_out(api: Api) -> None:
    async with browser(api) as visitor, browser(api) as thief:
        await visitor.sign_up("copied@example.com")
        thief.client.cookies.set("hg_session", visitor.client.cookies["hg_session"])
        assert (await thief.get("/dashboard")).status_code == 200
        await visitor.submit("/dashboard", "/logout", {})
        after = await thief.get("/dashboard")
        assert after.status_code == 303 and after.headers["location"].startswith("/login")
