"""Usage: one record per job that ran, written in the transaction that ends it; sums in SQL.

A job's time is split over calendar buckets (UTC days or months) by overlap, so a job that runs
over midnight or over the end of a month counts in both, each with its share of hours and cost.
Running jobs have no record yet: they count from their start up to ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, String, and_, case, distinct, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.selectable import Select, Subquery

from harvestgpu.server import orm
from harvestgpu.server.context import AppContext
from harvestgpu.server.security import new_id

U = orm.usage_records.c
J = orm.jobs.c
MAX_HISTORY_MONTHS = 36
GROUPS = ("provider", "gpu_type")


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970 of a UTC timestamp column, rendered for SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


@dataclass(frozen=True)
class Bucket:
    label: str
    start: datetime
    end: datetime


def month_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def period_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def money(value: float | None) -> float:
    return round(float(value or 0.0), 6)


# -- writing ---------------------------------------------------------------------------------


def record_job_end(conn: Connection, job: Mapping[Any, Any], now: datetime) -> None:
    """Insert the usage record of a job that just ended (sync: runs as its transaction commits)."""
    started, ended, rate = job["started_at"], job["ended_at"], job["cost_per_hour"]
    if started is None or ended is None or rate is None or job["provider"] is None:
        return  # it never ran, so nothing was billed
    conn.execute(
        orm.usage_records.insert().values(
            id=new_id(),
            user_id=job["user_id"],
            job_id=job["id"],
            status=job["status"],
            provider=job["provider"],
            gpu_type=job["gpu_type"] or job["gpu"],
            gpu_count=job["gpu_count"],
            cost_per_hour=rate,
            started_at=started,
            ended_at=ended,
            hours=round(max(0.0, (ended - started).total_seconds()) / 3600, 6),
            cost=money(job["total_cost"]),
            created_at=now,
        )
    )


# -- aggregating -----------------------------------------------------------------------------


def _spans(user_id: str, since: datetime, until: datetime, now: datetime, with_running: bool) -> Subquery:
    """Every billed interval of the user that touches [since, until): records, then running jobs."""
    ended = select(
        U.job_id.label("job_id"),
        U.provider.label("provider"),
        U.gpu_type.label("gpu_type"),
        U.gpu_count.label("gpu_count"),
        U.cost_per_hour.label("rate"),
        U.cost.label("cost"),
        epoch_seconds(U.started_at).label("s"),
        epoch_seconds(U.ended_at).label("e"),
    ).where(U.user_id == user_id, U.ended_at > since, U.started_at < until)
    if not with_running:
        return ended.subquery("spans")
    now_s = literal(now.timestamp(), Float)
    running = select(
        J.id,
        J.provider,
        J.gpu_type,
        J.gpu_count,
        J.cost_per_hour,
        J.cost_per_hour * (now_s - epoch_seconds(J.started_at)) / 3600.0,
        epoch_seconds(J.started_at),
        now_s,
    ).where(
        J.user_id == user_id,
        J.status == "running",
        J.started_at.is_not(None),
        J.cost_per_hour.is_not(None),
        J.started_at < until,
    )
    return union_all(ended, running).subquery("spans")


def _bucket_table(buckets: Sequence[Bucket]) -> Subquery:
    rows = [
        select(
            literal(b.label, String).label("label"),
            literal(b.start.timestamp(), Float).label("b_start"),
            literal(b.end.timestamp(), Float).label("b_end"),
        )
        for b in buckets
    ]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("buckets")


def usage_stmt(
    user_id: str,
    buckets: Sequence[Bucket],
    now: datetime,
    *,
    by: Sequence[str] = (),
    with_running: bool = True,
) -> Select[Any]:
    """Rows of (label, *by, hours, gpu_hours, cost, jobs), one per bucket (and group) with usage."""
    spans = _spans(user_id, buckets[0].start, buckets[-1].end, now, with_running)
    table = _bucket_table(buckets)
    s, e, b_start, b_end = spans.c.s, spans.c.e, table.c.b_start, table.c.b_end
    seconds = case((e < b_end, e), else_=b_end) - case((s > b_start, s), else_=b_start)
    # Inside one bucket the recorded cost is used as is, so sums match the jobs' total_cost.
    cost = case((and_(s >= b_start, e <= b_end), spans.c.cost), else_=spans.c.rate * seconds / 3600.0)
    groups = [spans.c[name] for name in by]
    return (
        select(
            table.c.label,
            *groups,
            func.sum(seconds / 3600.0).label("hours"),
            func.sum(seconds * spans.c.gpu_count / 3600.0).label("gpu_hours"),
            func.sum(cost).label("cost"),
            func.count(distinct(spans.c.job_id)).label("jobs"),
        )
        .select_from(spans.join(table, and_(s < b_end, e > b_start)))
        .group_by(table.c.label, *groups)
        .order_by(table.c.label, *groups)
    )


def month_bucket(now: datetime) -> Bucket:
    start = month_start(now)
    return Bucket(period_of(start), start, next_month(start))


def month_spend_stmt(user_id: str, now: datetime) -> Select[Any]:
    return usage_stmt(user_id, [month_bucket(now)], now)


def spend_of(row: Any) -> float:
    return money(row.cost) if row is not None else 0.0


async def month_spend(conn: AsyncConnection, user_id: str, now: datetime) -> float:
    """What the user spent this calendar month (UTC), running jobs up to ``now``."""
    return spend_of((await conn.execute(month_spend_stmt(user_id, now))).first())


def _totals(row: Any) -> dict[str, Any]:
    return {
        "hours": round(float(row.hours or 0.0), 6) if row is not None else 0.0,
        "gpu_hours": round(float(row.gpu_hours or 0.0), 6) if row is not None else 0.0,
        "cost": money(row.cost) if row is not None else 0.0,
        "jobs": int(row.jobs) if row is not None else 0,
    }


async def current_usage(ctx: AppContext, user_id: str, now: datetime | None = None) -> dict[str, Any]:
    """This calendar month (UTC): totals, every day so far, and splits by provider and GPU."""
    now = now or datetime.now(UTC)
    month = month_bucket(now)
    days: list[Bucket] = []
    day = month.start
    while day <= now:
        days.append(Bucket(day.strftime("%Y-%m-%d"), day, day + timedelta(days=1)))
        day += timedelta(days=1)
    L = orm.spend_limits.c
    async with ctx.db.read() as conn:
        total = (await conn.execute(usage_stmt(user_id, [month], now))).first()
        daily = {r.label: r for r in (await conn.execute(usage_stmt(user_id, days, now))).all()}
        splits = {
            name: (await conn.execute(usage_stmt(user_id, [month], now, by=(name,)))).all() for name in GROUPS
        }
        running = (
            await conn.execute(
                select(func.count())
                .select_from(orm.jobs)
                .where(J.user_id == user_id, J.status == "running", J.started_at.is_not(None))
            )
        ).scalar_one()
        limit = (await conn.execute(select(L.monthly_limit).where(L.user_id == user_id))).scalar()
    totals = _totals(total)
    return {
        "period": month.label,
        "start": month.start,
        "end": month.end,
        "as_of": now,
        "total_cost": totals["cost"],
        "hours": totals["hours"],
        "gpu_hours": totals["gpu_hours"],
        "jobs": totals["jobs"],
        "running_jobs": int(running),
        "monthly_limit": limit,
        "remaining": money(max(0.0, limit - totals["cost"])) if limit is not None else None,
        "daily": [{"date": d.label, **_totals(daily.get(d.label))} for d in days],
        "by_provider": [{"provider": r.provider, **_totals(r)} for r in splits["provider"]],
        "by_gpu": [{"gpu_type": r.gpu_type, **_totals(r)} for r in splits["gpu_type"]],
    }


def record_out(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "status": row["status"],
        "provider": row["provider"],
        "gpu_type": row["gpu_type"],
        "gpu_count": row["gpu_count"],
        "cost_per_hour": row["cost_per_hour"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "hours": row["hours"],
        "cost": money(row["cost"]),
    }


async def history(
    ctx: AppContext, user_id: str, limit: int, offset: int, now: datetime | None = None
) -> dict[str, Any]:
    """Usage records of ended jobs, newest first, and what they cost per calendar month."""
    now = now or datetime.now(UTC)
    async with ctx.db.read() as conn:
        total, first = (
            await conn.execute(
                select(func.count(), func.min(U.started_at))
                .select_from(orm.usage_records)
                .where(U.user_id == user_id)
            )
        ).one()
        rows = (
            await conn.execute(
                select(orm.usage_records)
                .where(U.user_id == user_id)
                .order_by(U.ended_at.desc(), U.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        months: list[Any] = []
        if first is not None:
            buckets = _month_buckets(max(month_start(first), _months_before(now, MAX_HISTORY_MONTHS)), now)
            stmt = usage_stmt(user_id, buckets, now, with_running=False)
            months = list((await conn.execute(stmt)).all())
    return {
        "records": [record_out(r._mapping) for r in rows],
        "total": int(total),
        "limit": limit,
        "offset": offset,
        "months": [{"period": m.label, **_totals(m)} for m in reversed(months)],
    }


def _months_before(now: datetime, count: int) -> datetime:
    start = month_start(now)
    for _ in range(count - 1):
        start = month_start(start - timedelta(days=1))
    return start


def _month_buckets(first: datetime, now: datetime) -> list[Bucket]:
    buckets: list[Bucket] = []
    start = month_start(first)
    while start <= now:
        end = next_month(start)
        buckets.append(Bucket(period_of(start), start, end))
        start = end
    return buckets
