"""Jobs: submit (validate, idempotency, route, persist), list, get, stop, logs, usage summary."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select, update
from sqlalchemy.exc import IntegrityError

from harvestgpu import gpus, routing
from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.providers import registry
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import BadRequest, Conflict, NoCapacity, NotFound, TooManyRequests
from harvestgpu.server.ratelimit import RateLimiter
from harvestgpu.server.schemas import JobSubmitRequest
from harvestgpu.server.security import new_id
from harvestgpu.server.services import budgets, job_events
from harvestgpu.server.services.accounts import AuthUser
from harvestgpu.server.services.job_views import (
    ROUTING_TEXT_FIELDS,
    VIEW_FIELDS,
    billed_hours,
    job_out,
    job_view,
)
from harvestgpu.server.services.pricing import gather_offers
from harvestgpu.server.services.provider_stats import provider_stats

MAX_STORED_CANDIDATES = 25
J = orm.jobs.c
# Only what a job response (and the logs endpoints) need: every column read is decoded.
_VIEW_COLUMNS = [J[name] for name in (*VIEW_FIELDS, "phase", "logs_available")]
_BY_ID_AND_USER = (J.id == bindparam("job_id"), J.user_id == bindparam("user_id"))
_JOB_BY_ID = select(*_VIEW_COLUMNS).where(*_BY_ID_AND_USER)
# GET /jobs/{id}: the trace columns as their JSON text, rendered through job_view()'s memo.
_JOB_VIEW_BY_ID = select(
    *(c for c in _VIEW_COLUMNS if c.key not in ROUTING_TEXT_FIELDS),
    *(cast(J[name], Text).label(f"{name}_json") for name in ROUTING_TEXT_FIELDS),
).where(*_BY_ID_AND_USER)


def _now() -> datetime:
    return datetime.now(UTC)


def request_hash(req: JobSubmitRequest) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def existing_for_key(ctx: AppContext, user: AuthUser, key: str, digest: str) -> dict[str, Any] | None:
    row = await ctx.db.fetch_one(select(orm.jobs).where(J.user_id == user.id, J.idempotency_key == key))
    if row is None:
        return None
    if row["request_hash"] != digest:
        raise Conflict("Idempotency-Key was already used with a different request body")
    return job_out(row)


async def submit(
    ctx: AppContext, user: AuthUser, req: JobSubmitRequest, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Returns (job, created). A repeated Idempotency-Key with the same body returns the first job."""
    digest = request_hash(req)
    if idempotency_key:
        if len(idempotency_key) > 200:
            raise BadRequest("Idempotency-Key must be at most 200 characters")
        existing = await existing_for_key(ctx, user, idempotency_key, digest)
        if existing is not None:
            return existing, False
    selector = gpus.parse(req.gpu)
    if selector is None:
        raise BadRequest(f"Unknown GPU '{req.gpu}'. Known GPUs: {', '.join(gpus.known_names())}")
    left_this_month = await budgets.left_this_month(ctx, user.id)

    offer_set = await gather_offers(ctx, user.id, requested=req.provider, gpu_count=req.gpu_count)
    if req.provider and registry.is_real(req.provider) and req.provider not in offer_set.key_ids:
        raise BadRequest(f"No active {req.provider} key: add one with POST /api/v1/providers/keys")
    result = routing.route(
        routing.RouteRequest(
            selector=selector,
            gpu_count=req.gpu_count,
            budget_max_per_hour=req.budget_max_per_hour,
            priority=req.priority,
            provider=req.provider,
        ),
        offer_set.offers,
        stats=await provider_stats(ctx) if req.priority != "cost" else None,
        max_candidates=MAX_STORED_CANDIDATES,
    )
    if not result.candidates:
        failing = [f"{r.provider}: {r.error}" for r in offer_set.results if r.error]
        extra = f" (provider errors: {'; '.join(failing)})" if failing else ""
        raise NoCapacity(result.summary() + extra)
    affordable = budgets.affordable_candidates(req, result.candidates, left_this_month)

    candidates = [
        {
            "rank": c.rank,
            "provider": c.offer.provider,
            "offer_id": c.offer.offer_id,
            "gpu_model": c.offer.gpu_model,
            "gpu_count": c.offer.gpu_count,
            "vram_gb": c.offer.vram_gb,
            "price_per_hour": c.offer.price_per_hour,
            "region": c.offer.region,
            "reason": c.reason,
            "availability": c.offer.availability,
            "interruptible": c.offer.interruptible,
            "provider_gpu_name": c.offer.provider_gpu_name,
            "extra": dict(c.offer.extra),
            "observed_at": c.offer.observed_at.isoformat(),
            "key_id": offer_set.key_ids.get(c.offer.provider),
        }
        for c in affordable
    ]
    rejected = result.rejection_counts()
    job_id = new_id()
    now = _now()
    env = req.env or {}
    row = dict(
        id=job_id,
        user_id=user.id,
        status="queued",
        phase="launch",
        gpu=req.gpu,
        gpu_count=req.gpu_count,
        image=req.image,
        command=req.command,
        priority=req.priority,
        env_ciphertext=ctx.master.encrypt(json.dumps(env), context=job_id) if env else None,
        env_keys=sorted(env),
        budget_max_per_hour=req.budget_max_per_hour,
        max_duration_hours=req.max_duration_hours,
        max_total_cost=req.max_total_cost,
        total_cost=0.0,
        created_at=now,
        candidates=candidates,
        rejected=rejected,
        attempts=[],
        next_candidate=0,
        idempotency_key=idempotency_key,
        request_hash=digest,
        next_run_at=now,
        updated_at=now,
    )
    try:
        async with ctx.db.write() as conn:
            await conn.execute(orm.jobs.insert().values(**row))
    except IntegrityError:
        # A concurrent submit with the same Idempotency-Key won the race: answer with its job.
        if idempotency_key:
            existing = await existing_for_key(ctx, user, idempotency_key, digest)
            if existing is not None:
                return existing, False
        raise
    ctx.engine_wakeup.set()
    stored = await ctx.db.fetch_one_hot(_JOB_BY_ID, {"job_id": job_id, "user_id": user.id})
    assert stored is not None
    return job_out(stored), True


async def submit_within_plan(
    ctx: AppContext, limiter: RateLimiter, user: AuthUser, req: JobSubmitRequest, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Submit taking one of the plan's jobs per hour, given back when no new job came of it.

    A retry of a submit that already made its job (same Idempotency-Key and body) gets that
    job even when the account is at its limit.
    """
    try:
        took_slot = await limiter.take_job_slot(user)
    except TooManyRequests:
        replay = idempotency_key and await existing_for_key(ctx, user, idempotency_key, request_hash(req))
        if replay:
            return replay, False
        raise
    created = False
    try:
        job, created = await submit(ctx, user, req, idempotency_key)
    finally:
        if took_slot and not created:  # refused, or a replay: no new job
            await limiter.return_job_slot(user)
    return job, created


async def get_row(ctx: AppContext, user: AuthUser, job_id: str) -> Mapping[str, Any]:
    row = await ctx.db.fetch_one_hot(_JOB_BY_ID, {"job_id": job_id, "user_id": user.id})
    if row is None:
        raise NotFound(f"Job '{job_id[:64]}' not found")
    return row


async def get(ctx: AppContext, user: AuthUser, job_id: str) -> dict[str, Any]:
    row = await ctx.db.fetch_one_hot(_JOB_VIEW_BY_ID, {"job_id": job_id, "user_id": user.id})
    if row is None:
        raise NotFound(f"Job '{job_id[:64]}' not found")
    return job_view(row)


async def list_jobs(
    ctx: AppContext,
    user: AuthUser,
    *,
    status: str | None,
    gpu: str | None,
    provider: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    conds = [J.user_id == user.id]
    if status:
        conds.append(J.status == status)
    if provider:
        if provider not in registry.ALL_PROVIDERS:
            raise BadRequest(
                f"Unknown provider '{provider[:32]}'. Providers: {', '.join(registry.ALL_PROVIDERS)}"
            )
        conds.append(J.provider == provider)
    if gpu:
        sel = gpus.parse(gpu)
        if sel is None:
            raise BadRequest(f"Unknown GPU '{gpu}'. Known GPUs: {', '.join(gpus.known_names())}")
        # Matches what the job runs on, or (still queued) what it asked for.
        conds.append(
            J.gpu_type.in_(sorted(sel.keys)) | (J.gpu_type.is_(None) & (func.upper(J.gpu) == gpu.upper()))
        )
    async with ctx.db.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(orm.jobs).where(*conds))).scalar_one()
        rows = (
            await conn.execute(
                select(orm.jobs)
                .where(*conds)
                .order_by(J.created_at.desc(), J.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return {
        "jobs": [job_out(r._mapping, with_routing=False) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


async def stop(ctx: AppContext, user: AuthUser, job_id: str) -> dict[str, Any]:
    """Mark stopped now (billing for the user stops here); the engine terminates the instance."""
    now = _now()
    async with ctx.db.write() as conn:
        row = (
            await conn.execute(select(orm.jobs).where(J.id == job_id, J.user_id == user.id).with_for_update())
        ).first()
        if row is None:
            raise NotFound(f"Job '{job_id[:64]}' not found")
        job = row._mapping
        if job["status"] in TERMINAL_STATUSES:
            raise BadRequest(f"Job is already {job['status']}; nothing to stop")
        total = round((job["cost_per_hour"] or 0.0) * billed_hours(job["started_at"], now), 6)
        await conn.execute(
            update(orm.jobs)
            .where(J.id == job_id)
            .values(
                status="stopped",
                stop_requested=True,
                ended_at=now,
                total_cost=total,
                error=None,
                phase="terminate",
                next_run_at=now,
                updated_at=now,
            )
        )
        await job_events.on_status_change(conn, job_id, job["status"])
    ctx.engine_wakeup.set()
    return await get(ctx, user, job_id)


async def logs(
    ctx: AppContext, user: AuthUser, job_id: str, offset: int, limit: int = 5000
) -> dict[str, Any]:
    job = await get_row(ctx, user, job_id)
    lines = await log_lines(ctx, job_id, offset, limit)
    return {
        "job_id": job_id,
        "status": job["status"],
        "lines": lines,
        "next_offset": offset + len(lines),
        "available": bool(job["logs_available"]),
        "exit_code": job["exit_code"],
    }


async def log_lines(ctx: AppContext, job_id: str, offset: int, limit: int = 5000) -> list[str]:
    L = orm.job_logs.c
    rows = await ctx.db.fetch_all(
        select(L.line).where(L.job_id == job_id, L.seq >= offset).order_by(L.seq).limit(limit)
    )
    return [r["line"] for r in rows]


async def active_jobs(ctx: AppContext, user_id: str) -> list[dict[str, Any]]:
    rows = await ctx.db.fetch_all(
        select(orm.jobs)
        .where(J.user_id == user_id, J.status.in_(("queued", "running")))
        .order_by(J.created_at.desc())
        .limit(100)
    )
    return [job_out(r, with_routing=False) for r in rows]
