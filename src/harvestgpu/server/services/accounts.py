"""Accounts: registration, login, authentication of API keys and JWTs, extra API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import Conflict, NotFound, Unauthorized
from harvestgpu.server.security import (
    API_KEY_PREFIX,
    api_key_display_prefix,
    hash_password,
    hash_token,
    new_api_key,
    new_id,
    verify_password,
)

LAST_USED_RESOLUTION_S = 60.0


@dataclass(frozen=True, slots=True)
class AuthUser:
    id: str
    email: str
    plan: str
    api_key_id: str | None  # None when authenticated by JWT


def _now() -> datetime:
    return datetime.now(UTC)


async def register(ctx: AppContext, email: str, password: str, company: str | None) -> dict[str, Any]:
    user_id = new_id()
    api_key = new_api_key()
    now = _now()
    pw_hash = hash_password(password)
    try:
        async with ctx.db.write() as conn:
            await conn.execute(
                orm.users.insert().values(
                    id=user_id,
                    email=email,
                    password_hash=pw_hash,
                    company=company,
                    plan="free",
                    created_at=now,
                )
            )
            await conn.execute(
                orm.api_keys.insert().values(
                    id=new_id(),
                    user_id=user_id,
                    name="default",
                    prefix=api_key_display_prefix(api_key),
                    key_hash=hash_token(api_key),
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("An account with this email already exists") from None
    token, _ = ctx.master.issue_jwt(user_id, ctx.settings.jwt_ttl_hours)
    return {"user_id": user_id, "email": email, "api_key": api_key, "token": token}


async def login(ctx: AppContext, email: str, password: str) -> dict[str, Any]:
    row = await ctx.db.fetch_one(
        select(orm.users.c.id, orm.users.c.password_hash).where(orm.users.c.email == email)
    )
    if not verify_password(row["password_hash"] if row else None, password) or row is None:
        raise Unauthorized("Invalid email or password")
    token, expires = ctx.master.issue_jwt(row["id"], ctx.settings.jwt_ttl_hours)
    return {"token": token, "user_id": row["id"], "email": email, "expires_at": expires}


_KEY_LOOKUP = (
    select(
        orm.users.c.id,
        orm.users.c.email,
        orm.users.c.plan,
        orm.api_keys.c.id.label("key_id"),
        orm.api_keys.c.last_used_at,
    )
    .join(orm.users, orm.users.c.id == orm.api_keys.c.user_id)
    .where(orm.api_keys.c.revoked_at.is_(None), orm.api_keys.c.key_hash == bindparam("digest"))
)
_USER_LOOKUP = select(
    orm.users.c.id, orm.users.c.email, orm.users.c.plan, orm.users.c.tokens_valid_after
).where(orm.users.c.id == bindparam("uid"))


async def authenticate(ctx: AppContext, token: str) -> AuthUser:
    """API key (``hg_live_…``) or JWT -> user; raises Unauthorized."""
    if not token:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <api key>'")
    if token.startswith(API_KEY_PREFIX):
        digest = hash_token(token)
        cached = ctx.auth_cache.get(digest)
        if cached is not None:
            return cached
        row = await ctx.db.fetch_one_hot(_KEY_LOOKUP, {"digest": digest})
        if row is None:
            raise Unauthorized("Invalid API key")
        user = AuthUser(id=row["id"], email=row["email"], plan=row["plan"], api_key_id=row["key_id"])
        ctx.auth_cache.put(digest, user)
        await _touch_key(ctx, user.api_key_id)
        return user
    claims = ctx.master.jwt_claims(token)
    if claims is None:
        raise Unauthorized("Invalid or expired token")
    user_id, issued_at = claims
    # Cached per token, not per user: a sign-out must not leave an older token in the cache.
    cache_key = "jwt:" + hash_token(token)
    cached = ctx.auth_cache.get(cache_key)
    if cached is not None:
        return cached
    urow = await ctx.db.fetch_one_hot(_USER_LOOKUP, {"uid": user_id})
    if urow is None:
        raise Unauthorized("Invalid or expired token")
    valid_after = urow["tokens_valid_after"]
    if valid_after is not None and issued_at < valid_after.timestamp():
        raise Unauthorized("This session was signed out: log in again")
    user = AuthUser(id=urow["id"], email=urow["email"], plan=urow["plan"], api_key_id=None)
    ctx.auth_cache.put(cache_key, user)
    return user


async def sign_out(ctx: AppContext, user_id: str) -> None:
    """End every login token and browser session of the account issued until now.

    API keys are unaffected: they are revoked one by one. Other API processes learn it through
    the cache sync (Redis), or within the auth cache's TTL without it.
    """
    async with ctx.db.write() as conn:
        await conn.execute(
            update(orm.users).where(orm.users.c.id == user_id).values(tokens_valid_after=_now())
        )
    await ctx.cache_sync.forget_user(user_id)


async def _touch_key(ctx: AppContext, key_id: str | None) -> None:
    # Only on cache misses (at most about once per auth-cache TTL per key): last-used is
    # informational, so it is kept off the hot path.
    if key_id is None:
        return
    now = _now()
    async with ctx.db.write() as conn:
        await conn.execute(update(orm.api_keys).where(orm.api_keys.c.id == key_id).values(last_used_at=now))


async def me(ctx: AppContext, user: AuthUser) -> dict[str, Any]:
    from harvestgpu.server.services import jobs as job_service
    from harvestgpu.server.services import usage

    row = await ctx.db.fetch_one(select(orm.users).where(orm.users.c.id == user.id))
    if row is None:
        raise Unauthorized("Invalid or expired token")
    month = await usage.current_usage(ctx, user.id)
    summary = {
        k: month[k]
        for k in (
            "period",
            "total_cost",
            "hours",
            "gpu_hours",
            "jobs",
            "running_jobs",
            "monthly_limit",
            "remaining",
        )
    }
    active = await job_service.active_jobs(ctx, user.id)
    return {
        "user_id": row["id"],
        "email": row["email"],
        "company": row["company"],
        "plan": row["plan"],
        "created_at": row["created_at"],
        "usage": summary,
        "active_jobs": active,
    }


async def create_api_key(ctx: AppContext, user: AuthUser, name: str) -> dict[str, Any]:
    api_key = new_api_key()
    key_id = new_id()
    now = _now()
    async with ctx.db.write() as conn:
        await conn.execute(
            orm.api_keys.insert().values(
                id=key_id,
                user_id=user.id,
                name=name,
                prefix=api_key_display_prefix(api_key),
                key_hash=hash_token(api_key),
                created_at=now,
            )
        )
    return {
        "id": key_id,
        "name": name,
        "prefix": api_key_display_prefix(api_key),
        "api_key": api_key,
        "created_at": now,
    }


async def list_api_keys(ctx: AppContext, user: AuthUser) -> list[dict[str, Any]]:
    k = orm.api_keys.c
    rows = await ctx.db.fetch_all(
        select(k.id, k.name, k.prefix, k.created_at, k.last_used_at)
        .where(k.user_id == user.id, k.revoked_at.is_(None))
        .order_by(k.created_at)
    )
    return [dict(r) for r in rows]


async def revoke_api_key(ctx: AppContext, user: AuthUser, key_id: str) -> dict[str, Any]:
    k = orm.api_keys.c
    async with ctx.db.write() as conn:
        live = (
            await conn.execute(
                select(func.count())
                .select_from(orm.api_keys)
                .where(k.user_id == user.id, k.revoked_at.is_(None))
            )
        ).scalar_one()
        res = await conn.execute(
            update(orm.api_keys)
            .where(k.id == key_id, k.user_id == user.id, k.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        if res.rowcount == 0:
            raise NotFound("API key not found")
        if live <= 1 and user.api_key_id == key_id:
            raise Conflict("Cannot revoke your only API key while using it; create another first")
    await ctx.cache_sync.forget_user(user.id)
    return {"id": key_id, "revoked": True}
