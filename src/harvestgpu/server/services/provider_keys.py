"""Users' cloud keys: encrypted at rest (AES-GCM, user id as associated data), last 4 shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from harvestgpu.providers import registry
from harvestgpu.providers.base import Provider
from harvestgpu.providers.errors import ProviderAuthError, ProviderError, redact
from harvestgpu.providers.mock import MockProvider
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import BadRequest, NotFound
from harvestgpu.server.security import new_id
from harvestgpu.server.services.accounts import AuthUser

# What a removed key's ciphertext becomes once nothing needs it (the column is NOT NULL).
ERASED = ""

_PUBLIC_COLUMNS = (
    orm.provider_keys.c.provider,
    orm.provider_keys.c.label,
    orm.provider_keys.c.last4,
    orm.provider_keys.c.active,
    orm.provider_keys.c.created_at,
    orm.provider_keys.c.last_tested_at,
    orm.provider_keys.c.last_test_valid,
    orm.provider_keys.c.last_test_message,
)


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """A decrypted key, for the worker and the offer fetcher only. Never serialised."""

    key_id: str
    provider: str
    api_key: str

    def __repr__(self) -> str:
        return f"ProviderAccount({self.provider}, key ****{self.api_key[-4:]})"


def make_adapter(ctx: AppContext, slug: str, api_key: str = "") -> Provider:
    if slug == registry.MOCK:
        return MockProvider(ctx.mock_cloud, ctx.http)
    cls = registry.provider_class(slug)
    return cls(
        api_key=api_key,
        http=ctx.http,
        base_url=ctx.settings.provider_base_url(slug),
        timeout_s=ctx.settings.timeout_for(slug),
    )


def _check_slug(provider: str) -> None:
    if provider not in registry.REAL_PROVIDERS:
        raise BadRequest(f"Unknown provider '{provider}'. Use one of: {', '.join(registry.REAL_PROVIDERS)}")


async def upsert(
    ctx: AppContext,
    user: AuthUser,
    provider: str,
    api_key: str,
    label: str | None,
    *,
    keep_label: bool = False,
) -> dict[str, Any]:
    """Connect or replace the user's key for a provider.

    ``keep_label``: the caller did not send a label, so a replaced key keeps the one it had.
    """
    _check_slug(provider)
    now = datetime.now(UTC)
    ciphertext = ctx.master.encrypt(api_key, context=user.id)
    pk = orm.provider_keys.c
    async with ctx.db.write() as conn:
        existing = (
            await conn.execute(
                select(pk.id, pk.label, pk.deleted_at).where(pk.user_id == user.id, pk.provider == provider)
            )
        ).first()
        if keep_label and existing is not None and existing.deleted_at is None:
            label = existing.label
        readded = existing is not None and existing.deleted_at is not None
        values = dict(
            label=label,
            key_ciphertext=ciphertext,
            last4=api_key[-4:],
            active=True,
            updated_at=now,
            last_tested_at=None,
            last_test_valid=None,
            last_test_message=None,
            deleted_at=None,
        )
        if existing is None:
            key_id = new_id()
            await conn.execute(
                orm.provider_keys.insert().values(
                    id=key_id, user_id=user.id, provider=provider, created_at=now, **values
                )
            )
        else:
            key_id = existing.id
            if readded:
                values["created_at"] = now
            await conn.execute(update(orm.provider_keys).where(pk.id == key_id).values(**values))
    ctx.offer_cache.forget(key_id)
    return await get_public(ctx, user, provider)


async def get_public(ctx: AppContext, user: AuthUser, provider: str) -> dict[str, Any]:
    pk = orm.provider_keys.c
    row = await ctx.db.fetch_one(
        select(*_PUBLIC_COLUMNS).where(
            pk.user_id == user.id, pk.provider == provider, pk.deleted_at.is_(None)
        )
    )
    if row is None:
        raise NotFound(f"No {provider} key connected")
    return dict(row)


async def list_public(ctx: AppContext, user: AuthUser) -> list[dict[str, Any]]:
    pk = orm.provider_keys.c
    rows = await ctx.db.fetch_all(
        select(*_PUBLIC_COLUMNS).where(pk.user_id == user.id, pk.deleted_at.is_(None)).order_by(pk.provider)
    )
    return [dict(r) for r in rows]


async def delete(ctx: AppContext, user: AuthUser, provider: str) -> dict[str, Any]:
    """Remove a key: no new job is placed with it, and its ciphertext is erased as soon as
    nothing needs it (``erase_removed_keys``: at once if no job of the user is unfinished on it)."""
    _check_slug(provider)
    pk = orm.provider_keys.c
    async with ctx.db.write() as conn:
        res = await conn.execute(
            update(orm.provider_keys)
            .where(pk.user_id == user.id, pk.provider == provider, pk.deleted_at.is_(None))
            .values(active=False, deleted_at=datetime.now(UTC))
        )
        if res.rowcount == 0:
            raise NotFound(f"No {provider} key connected")
    ctx.offer_cache.forget_user(user.id)
    await erase_removed_keys(ctx)
    return {"provider": provider, "deleted": True}


async def active_accounts(ctx: AppContext, user_id: str) -> list[ProviderAccount]:
    pk = orm.provider_keys.c
    rows = await ctx.db.fetch_all(
        select(pk.id, pk.provider, pk.key_ciphertext).where(
            pk.user_id == user_id, pk.active.is_(True), pk.deleted_at.is_(None)
        )
    )
    return [
        ProviderAccount(r["id"], r["provider"], ctx.master.decrypt(r["key_ciphertext"], context=user_id))
        for r in rows
    ]


async def account_by_id(
    ctx: AppContext, user_id: str, key_id: str, *, include_deleted: bool = True
) -> ProviderAccount | None:
    """The account behind a key id; by default also a removed key's, because a job placed with a
    key must stay stoppable after the key is removed. New launches pass include_deleted=False."""
    pk = orm.provider_keys.c
    conds = [pk.id == key_id, pk.user_id == user_id, pk.key_ciphertext != ERASED]
    if not include_deleted:
        conds += [pk.deleted_at.is_(None), pk.active.is_(True)]
    row = await ctx.db.fetch_one(select(pk.id, pk.provider, pk.key_ciphertext).where(*conds))
    if row is None:
        return None
    return ProviderAccount(
        row["id"], row["provider"], ctx.master.decrypt(row["key_ciphertext"], context=user_id)
    )


async def erase_removed_keys(ctx: AppContext) -> int:
    """Erase the ciphertext of removed keys nothing needs any more; returns how many.

    A removed key is kept only while a job placed with it is unfinished (to monitor and stop
    it) or while any job of its user is still being placed (a launch in flight may have used
    it; the resumed step adopts that instance by name).
    """
    pk, j = orm.provider_keys.c, orm.jobs.c
    needed_by_placed = select(j.id).where(j.provider_key_id == pk.id, j.phase != "done").exists()
    user_launching = select(j.id).where(j.user_id == pk.user_id, j.phase == "launch").exists()
    async with ctx.db.write() as conn:
        res = await conn.execute(
            update(orm.provider_keys)
            .where(pk.deleted_at.is_not(None), pk.key_ciphertext != ERASED)
            .where(~needed_by_placed, ~user_launching)
            .values(key_ciphertext=ERASED)
        )
    return int(res.rowcount or 0)


async def test(ctx: AppContext, user: AuthUser, provider: str) -> dict[str, Any]:
    _check_slug(provider)
    pk = orm.provider_keys.c
    row = await ctx.db.fetch_one(
        select(pk.id, pk.key_ciphertext).where(
            pk.user_id == user.id, pk.provider == provider, pk.deleted_at.is_(None)
        )
    )
    if row is None:
        raise NotFound(f"No {provider} key connected")
    api_key = ctx.master.decrypt(row["key_ciphertext"], context=user.id)
    adapter = make_adapter(ctx, provider, api_key)
    try:
        check = await adapter.validate_key()
        valid, message = check.valid, check.message
    except ProviderAuthError as exc:
        valid, message = False, redact(f"Key rejected by {provider}: {exc.message}", api_key)
    except ProviderError as exc:
        valid, message = False, redact(f"Could not verify the key: {exc.message}", api_key)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(orm.provider_keys)
            .where(pk.id == row["id"])
            .values(last_tested_at=datetime.now(UTC), last_test_valid=valid, last_test_message=message[:500])
        )
    return {"provider": provider, "valid": valid, "message": message}
