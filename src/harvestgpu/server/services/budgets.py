"""Spend budgets: a per-job ``max_total_cost`` and a per-user monthly spend limit (UTC month).

At submit, offers that could break either budget are dropped from the job's candidates (or the
job is refused when none is left); while a job runs the engine stops it when either is reached
(workers/steps.py monitor); when a job ends over a budget a ``budget.exceeded`` event is queued
(once per month for the monthly limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from harvestgpu import routing
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import BadRequest
from harvestgpu.server.schemas import JobSubmitRequest
from harvestgpu.server.services import usage
from harvestgpu.server.services.accounts import AuthUser
from harvestgpu.server.services.job_views import billed_hours
from harvestgpu.server.services.webhooks import timestamp_text

L = orm.spend_limits.c
_LIMIT_OF_USER = select(L.monthly_limit).where(L.user_id == bindparam("user_id"))


def _now() -> datetime:
    return datetime.now(UTC)


def _usd(value: float) -> str:
    """$4.78, $1,200.00; small amounts keep their digits ($0.0005, not $0.00)."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else "$" + f"{value:.6f}".rstrip("0")


async def monthly_limit(ctx: AppContext, user_id: str) -> float | None:
    row = await ctx.db.fetch_one_hot(_LIMIT_OF_USER, {"user_id": user_id})
    return float(row["monthly_limit"]) if row is not None else None


async def limit_out(ctx: AppContext, user: AuthUser, now: datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    limit = await monthly_limit(ctx, user.id)
    async with ctx.db.read() as conn:
        spent = await usage.month_spend(conn, user.id, now)
    return {
        "monthly_limit": limit,
        "period": usage.period_of(now),
        "spent": spent,
        "remaining": usage.money(max(0.0, limit - spent)) if limit is not None else None,
    }


async def set_limit(ctx: AppContext, user: AuthUser, limit: float | None) -> dict[str, Any]:
    """Set (or with None remove) the monthly limit. A new limit may alert again this month."""
    now = _now()
    async with ctx.db.write() as conn:
        await conn.execute(orm.spend_limits.delete().where(L.user_id == user.id))
        if limit is not None:
            await conn.execute(
                orm.spend_limits.insert().values(
                    user_id=user.id, monthly_limit=limit, alerted_period=None, updated_at=now
                )
            )
    return await limit_out(ctx, user, now)


def affordable_candidates(
    req: JobSubmitRequest, candidates: Sequence[routing.Candidate], left_this_month: float | None
) -> list[routing.Candidate]:
    """The candidates that fit the job's budgets; BadRequest naming the budget when none does.

    An offer fits ``max_total_cost`` when ``max_duration_hours`` of it costs no more; it fits the
    month when its worst case (that, or ``max_total_cost``) is within what is left.
    """
    hours, cap = req.max_duration_hours, req.max_total_cost

    def worst_case(c: routing.Candidate) -> float | None:
        full = c.offer.price_per_hour * hours if hours is not None else None
        if full is None:
            return cap
        return full if cap is None else min(full, cap)

    kept = list(candidates)
    if cap is not None and hours is not None:
        kept = [c for c in kept if c.offer.price_per_hour * hours <= cap]
        if not kept:
            cheapest = min(c.offer.price_per_hour for c in candidates)
            raise BadRequest(
                f"max_total_cost {_usd(cap)} cannot cover max_duration_hours ({hours:g} h) at any matching "
                f"offer (cheapest {_usd(cheapest)}/h, {_usd(cheapest * hours)}); raise max_total_cost "
                "or lower max_duration_hours"
            )
    if left_this_month is not None:
        fitting = [c for c in kept if (worst_case(c) or 0.0) <= left_this_month]
        if not fitting:
            worst = min(worst_case(c) or 0.0 for c in kept)
            raise BadRequest(
                f"This job could cost up to {_usd(worst)}, more than the {_usd(left_this_month)} left of "
                "your monthly spend limit; raise it with PUT /api/v1/billing/limit"
            )
        kept = fitting
    return kept


async def left_this_month(ctx: AppContext, user_id: str, now: datetime | None = None) -> float | None:
    """What is left of the monthly limit (None: no limit); BadRequest when nothing is left."""
    limit = await monthly_limit(ctx, user_id)
    if limit is None:
        return None
    now = now or _now()
    async with ctx.db.read() as conn:
        spent = await usage.month_spend(conn, user_id, now)
    if spent >= limit:
        raise BadRequest(
            f"Monthly spend limit reached: {_usd(spent)} spent of {_usd(limit)} in {usage.period_of(now)}; "
            "raise it with PUT /api/v1/billing/limit"
        )
    return limit - spent


async def stop_reason(
    ctx: AppContext, job: Mapping[Any, Any], started: datetime | None, now: datetime
) -> str | None:
    """Why a running job must stop now for a budget, or None."""
    rate = job["cost_per_hour"]
    if started is None or rate is None:
        return None
    cap = job["max_total_cost"]
    if cap is not None and rate * billed_hours(started, now) >= cap:
        return f"Reached max_total_cost ({_usd(cap)}); the instance was terminated"
    limit = await monthly_limit(ctx, job["user_id"])
    if limit is None:
        return None
    async with ctx.db.read() as conn:
        spent = await usage.month_spend(conn, job["user_id"], now)
    if spent >= limit:
        return (
            f"Reached the monthly spend limit ({_usd(limit)} in {usage.period_of(now)}); "
            "the instance was terminated"
        )
    return None


def cap_reached_at(job: Mapping[Any, Any], started: datetime | None) -> datetime | None:
    """When the running job's cost reaches its max_total_cost, so the engine looks right then."""
    rate, cap = job["cost_per_hour"], job["max_total_cost"]
    if started is None or not rate or cap is None:
        return None
    return started + timedelta(hours=cap / rate)


def exceeded_events(conn: Connection, job: Mapping[Any, Any], now: datetime) -> list[dict[str, Any]]:
    """``budget.exceeded`` payloads for a job that just ended (sync: inside its transaction)."""
    events: list[dict[str, Any]] = []
    period = usage.period_of(now)
    cap, spent = job["max_total_cost"], float(job["total_cost"] or 0.0)
    if cap is not None and spent >= cap:
        events.append(_exceeded("job", job["id"], cap, spent, period, now))
    limit = conn.execute(select(L.monthly_limit).where(L.user_id == job["user_id"])).scalar()
    if limit is None:
        return events
    month_spent = usage.spend_of(conn.execute(usage.month_spend_stmt(job["user_id"], now)).first())
    if month_spent < limit:
        return events
    first_alert = conn.execute(
        update(orm.spend_limits)
        .where(L.user_id == job["user_id"], or_(L.alerted_period.is_(None), L.alerted_period != period))
        .values(alerted_period=period)
    )
    if first_alert.rowcount:
        events.append(_exceeded("monthly", job["id"], limit, month_spent, period, now))
    return events


def _exceeded(
    scope: str, job_id: str, limit: float, spent: float, period: str, now: datetime
) -> dict[str, Any]:
    return {
        "event": "budget.exceeded",
        "scope": scope,
        "job_id": job_id,
        "limit": usage.money(limit),
        "spent": usage.money(spent),
        "period": period,
        "timestamp": timestamp_text(now),
    }
