from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.support import data, error


async def test_register_returns_key_and_token_and_lowercases_email(api: Api) -> None:
    resp = await api.client.post(
        "/api/v1/auth/register", json={"email": "You@Example.COM", "password": "min8chars", "company": "Acme"}
    )
    d = data(resp, 201)
    assert d["email"] == "you@example.com"
    assert d["api_key"].startswith("hg_live_") and len(d["api_key"]) > 40
    assert d["token"].count(".") == 2 and d["user_id"]
    assert resp.headers["x-request-id"]


async def test_register_twice_is_409(api: Api) -> None:
    await api.register("dup@example.com")
    msg = error(
        await api.client.post(
            "/api/v1/auth/register", json={"email": "DUP@example.com", "password": "x" * 8}
        ),
        409,
    )
    assert "already exists" in msg


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"email": "not-an-email", "password": "longenough"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": 12345678}, "password"),
        ({"email": "a@example.com", "password": "longenough", "plan": "enterprise"}, "plan"),
    ],
)
async def test_register_bad_input_is_400_naming_the_field(
    api: Api, body: dict[str, object], needle: str
) -> None:
    assert needle in error(await api.client.post("/api/v1/auth/register", json=body), 400)


async def test_malformed_and_empty_bodies_are_400(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    assert "JSON" in error(
        await api.client.post("/api/v1/auth/register", content=b"{nope", headers=headers), 400
    )
    error(await api.client.post("/api/v1/auth/register", content=b"", headers=headers), 400)
    error(await api.client.post("/api/v1/auth/register", json=[1, 2]), 400)


async def test_login_gives_a_jwt_that_authenticates(api: Api) -> None:
    await api.register("login@example.com", "correct-horse")
    d = data(
        await api.client.post(
            "/api/v1/auth/login", json={"email": "LOGIN@example.com", "password": "correct-horse"}
        )
    )
    me = data(await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {d['token']}"}))
    assert me["email"] == "login@example.com" and me["plan"] == "free"


async def test_login_wrong_password_or_unknown_user_is_401(api: Api) -> None:
    await api.register("pw@example.com", "correct-horse")
    m1 = error(
        await api.client.post(
            "/api/v1/auth/login", json={"email": "pw@example.com", "password": "wrong-horse"}
        ),
        401,
    )
    m2 = error(
        await api.client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x"}),
        401,
    )
    assert m1 == m2  # no hint whether the account exists


async def test_me_with_api_key_header_variants(api: Api) -> None:
    user = await api.register()
    for headers in ({"Authorization": f"Bearer {user['api_key']}"}, {"X-API-Key": user["api_key"]}):
        me = data(await api.client.get("/api/v1/auth/me", headers=headers))
        assert me["user_id"] == user["user_id"]
        assert me["usage"]["jobs"] == 0 and me["active_jobs"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer hg_live_wrong"},
        {"Authorization": "Basic abc"},
        {"X-API-Key": "nope"},
        {"Authorization": "Bearer a.b.c"},
    ],
)
async def test_bad_or_absent_credentials_are_401(api: Api, headers: dict[str, str]) -> None:
    error(await api.client.get("/api/v1/auth/me", headers=headers), 401)
    error(await api.client.get("/api/v1/jobs", headers=headers), 401)
    error(await api.client.get("/api/v1/jobs/any-job-id", headers=headers), 401)


async def test_extra_api_keys_create_list_revoke(api: Api) -> None:
    user = await api.register()
    h = user["headers"]
    created = data(await api.client.post("/api/v1/auth/keys", headers=h, json={"name": "ci"}), 201)
    assert created["api_key"].startswith("hg_live_") and created["prefix"] == created["api_key"][:14]
    keys = data(await api.client.get("/api/v1/auth/keys", headers=h))["keys"]
    assert {k["name"] for k in keys} == {"default", "ci"}
    assert all("api_key" not in k and "key_hash" not in k for k in keys)
    new_h = {"Authorization": f"Bearer {created['api_key']}"}
    data(await api.client.get("/api/v1/auth/me", headers=new_h))
    used = next(
        k for k in data(await api.client.get("/api/v1/auth/keys", headers=h))["keys"] if k["name"] == "ci"
    )
    assert used["last_used_at"] is not None
    data(await api.client.delete(f"/api/v1/auth/keys/{created['id']}", headers=h))
    error(await api.client.get("/api/v1/auth/me", headers=new_h), 401)
    error(await api.client.delete(f"/api/v1/auth/keys/{created['id']}", headers=h), 404)


async def test_users_cannot_revoke_each_others_keys(api: Api) -> None:
    a, b = await api.register(), await api.register()
    key = data(await api.client.post("/api/v1/auth/keys", headers=a["headers"], json={"name": "x"}), 201)
    error(await api.client.delete(f"/api/v1/auth/keys/{key['id']}", headers=b["headers"]), 404)


async def test_logout_ends_login_tokens_but_not_api_keys(api: Api) -> None:
    user = await api.register()
    creds = {"email": user["email"], "password": "correct-horse"}
    token = data(await api.client.post("/api/v1/auth/login", json=creds))["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert data(await api.client.get("/api/v1/auth/me", headers=bearer))
    assert data(await api.client.post("/api/v1/auth/logout", headers=bearer)) == {"signed_out": True}
    assert "signed out" in error(await api.client.get("/api/v1/auth/me", headers=bearer), 401)
    assert data(await api.client.get("/api/v1/auth/me", headers=user["headers"]))  # the API key
    fresh = data(await api.client.post("/api/v1/auth/login", json=creds))["token"]
    assert data(await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {fresh}"}))
