"""The orphan sweep: no instance of ours keeps billing without a live job behind it.

Every connected account (and the mock) is listed for instances named ``hg-<job id>``. One is
terminated, and recorded, when its job is finished, unknown to this server, or placed on a
different instance (a duplicate). A job still being placed is left alone, and an instance
with no known job gets a grace period (it may belong to a launch whose row is being written).
A job abandoning a boot that failed (phase ``abandon``) still records that instance, which the
engine itself terminates; once it is gone the job is placed elsewhere, under the same name.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from harvestgpu.providers import registry
from harvestgpu.providers.base import Provider, job_id_from_name
from harvestgpu.providers.errors import ProviderError
from harvestgpu.providers.types import Instance, InstanceState
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.services import provider_keys

log = logging.getLogger("harvestgpu.orphans")
J = orm.jobs.c
PK = orm.provider_keys.c


async def _accounts(ctx: AppContext) -> list[tuple[str | None, Provider]]:
    """(user id, adapter) for every key that may still have instances: active keys, and removed
    keys still needed by unfinished jobs (the others are erased here first)."""
    out: list[tuple[str | None, Provider]] = []
    if ctx.settings.mock_mode != "never":
        out.append((None, provider_keys.make_adapter(ctx, registry.MOCK)))
    await provider_keys.erase_removed_keys(ctx)
    rows = await ctx.db.fetch_all(
        select(PK.user_id, PK.provider, PK.key_ciphertext).where(PK.key_ciphertext != provider_keys.ERASED)
    )
    for r in rows:
        api_key = ctx.master.decrypt(r["key_ciphertext"], context=r["user_id"])
        out.append((r["user_id"], provider_keys.make_adapter(ctx, r["provider"], api_key)))
    return out


def _verdict(
    ctx: AppContext, inst: Instance, job: Any, user_id: str | None, slug: str, now: datetime
) -> str | None:
    """Why this instance should go, or None to keep it."""
    if job is None or (user_id is not None and job["user_id"] != user_id):
        # Listings of some clouds (Lambda, TensorDock) carry no creation time: the grace then
        # runs from this process's first sighting, which a restart only lengthens.
        seen = ctx.orphan_first_seen.setdefault((slug, user_id, inst.instance_id), now)
        if now - (inst.created_at or seen) < timedelta(seconds=ctx.settings.orphan_grace_s):
            return None
        return "no such job on this server"
    if job["phase"] == "launch":
        return None
    if job["phase"] == "done":
        return f"job already {job['status']}"
    if job["instance_id"] is not None and job["instance_id"] != inst.instance_id:
        return "duplicate instance for a job that runs elsewhere"
    return None


async def sweep_once(ctx: AppContext) -> list[dict[str, Any]]:
    """One pass over every account; returns what it terminated."""
    now = datetime.now(UTC)
    terminated: list[dict[str, Any]] = []
    for user_id, adapter in await _accounts(ctx):
        try:
            instances = await adapter.list_instances()
        except ProviderError as exc:
            log.warning("orphan sweep: cannot list %s instances: %s", adapter.slug, exc.message)
            continue
        for inst in instances:
            job_id = job_id_from_name(inst.name)
            # A terminated instance bills nothing; some clouds keep listing them for a while
            # (a boot the engine abandoned, say), and they are no one's duplicate.
            if job_id is None or inst.state == InstanceState.TERMINATED:
                continue
            if inst.job_marker is not None and inst.job_marker != job_id:
                continue  # named like ours, but not launched by us
            job = await ctx.db.fetch_one(
                select(J.user_id, J.phase, J.status, J.instance_id).where(J.id == job_id)
            )
            reason = _verdict(ctx, inst, job, user_id, adapter.slug, now)
            if reason is None:
                continue
            try:
                await adapter.terminate(inst.instance_id)
            except ProviderError as exc:
                log.warning(
                    "orphan sweep: terminate %s at %s failed: %s", inst.instance_id, adapter.slug, exc.message
                )
                continue
            record = {
                "user_id": user_id,
                "provider": adapter.slug,
                "instance_id": inst.instance_id,
                "instance_name": inst.name,
                "job_id": job_id if job is not None else None,
                "reason": reason,
                "terminated_at": now,
            }
            # A cloud may list an instance as going away for a while: it is terminated again on
            # each pass until gone, but recorded (and reported) once.
            ctx.orphan_first_seen.pop((adapter.slug, user_id, inst.instance_id), None)
            ot = orm.orphan_terminations.c
            same = (ot.provider == adapter.slug, ot.instance_id == inst.instance_id)
            async with ctx.db.write() as conn:
                if (await conn.execute(select(ot.id).where(*same).limit(1))).first() is not None:
                    continue
                await conn.execute(orm.orphan_terminations.insert().values(**record))
            log.warning(
                "orphan sweep: terminated %s %s (%s): %s", adapter.slug, inst.instance_id, inst.name, reason
            )
            terminated.append(record)
    return terminated
