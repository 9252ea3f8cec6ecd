"""Usage over day and month boundaries on a controlled clock, with stopped, failed and running jobs.

Jobs are written as rows with chosen times and ended through the status-change seam exactly as
the engine, the stop API and the agent do it (announce the change, then write the end), so the
usage records come from the real code path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from harvestgpu.server import orm
from harvestgpu.server.security import new_id
from harvestgpu.server.services import job_events, usage
from tests.conftest import Api

J = orm.jobs.c


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def start_job(
    api: Api,
    user_id: str,
    started: str,
    rate: float,
    *,
    provider: str = "mock",
    gpu_type: str = "H100-PCIE",
    gpu_count: int = 1,
) -> str:
    job_id = new_id()
    when = at(started)
    async with api.ctx.db.write() as conn:
        await conn.execute(
            orm.jobs.insert().values(
                id=job_id,
                user_id=user_id,
                status="queued",
                phase="boot",
                gpu=gpu_type,
                image="img",
                priority="cost",
                provider=provider,
                gpu_type=gpu_type,
                gpu_count=gpu_count,
                cost_per_hour=rate,
                created_at=when,
                updated_at=when,
            )
        )
    await change(api, job_id, "running", started_at=when, phase="monitor")
    return job_id


async def change(api: Api, job_id: str, status: str, **values: Any) -> None:
    async with api.ctx.db.write() as conn:
        old = (await conn.execute(select(J.status).where(J.id == job_id))).scalar_one()
        await conn.execute(update(orm.jobs).where(J.id == job_id).values(status=status, **values))
        await job_events.on_status_change(conn, job_id, old)


async def end_job(api: Api, job_id: str, status: str, ended: str) -> None:
    row = await api.ctx.db.fetch_one(select(J.cost_per_hour, J.started_at).where(J.id == job_id))
    assert row is not None
    hours = (at(ended) - row["started_at"]).total_seconds() / 3600
    await change(api, job_id, status, ended_at=at(ended), total_cost=round(row["cost_per_hour"] * hours, 6))


@pytest.fixture
async def month(api: Api) -> dict[str, Any]:
    """March and April 2026 for one user; "now" is 2026-04-02 06:00 UTC."""
    user_id = (await api.register())["user_id"]
    over_month_end = await start_job(api, user_id, "2026-03-31T22:00:00", 3.0)
    await end_job(api, over_month_end, "stopped", "2026-04-01T02:00:00")
    over_midnight = await start_job(
        api, user_id, "2026-04-01T23:30:00", 2.0, provider="runpod", gpu_type="A100-80GB-SXM", gpu_count=2
    )
    await end_job(api, over_midnight, "failed", "2026-04-02T00:30:00")
    in_march = await start_job(api, user_id, "2026-03-10T10:00:00", 1.0)
    await end_job(api, in_march, "completed", "2026-03-10T12:00:00")
    running = await start_job(api, user_id, "2026-04-02T04:00:00", 1.5)
    never_ran = new_id()
    async with api.ctx.db.write() as conn:
        when = at("2026-04-01T08:00:00")
        await conn.execute(
            orm.jobs.insert().values(
                id=never_ran,
                user_id=user_id,
                status="queued",
                phase="launch",
                gpu="T4",
                image="img",
                priority="cost",
                created_at=when,
                updated_at=when,
            )
        )
    await change(api, never_ran, "stopped", ended_at=at("2026-04-01T08:01:00"))
    return {
        "user_id": user_id,
        "running": running,
        "over_month_end": over_month_end,
        "in_march": in_march,
        "over_midnight": over_midnight,
    }


async def test_the_current_month_splits_jobs_at_midnight_and_at_the_month_boundary(
    api: Api, month: dict[str, Any]
) -> None:
    got = await usage.current_usage(api.ctx, month["user_id"], now=at("2026-04-02T06:00:00"))

    assert got["period"] == "2026-04" and got["start"] == at("2026-04-01T00:00:00")
    assert got["end"] == at("2026-05-01T00:00:00")
    # April only: 2 h of the stopped job ($6), the failed one ($2), 2 h of the running one ($3).
    assert got["total_cost"] == pytest.approx(11.0)
    assert got["hours"] == pytest.approx(5.0) and got["gpu_hours"] == pytest.approx(6.0)
    assert got["jobs"] == 3 and got["running_jobs"] == 1
    assert [(d["date"], d["hours"], d["cost"], d["jobs"]) for d in got["daily"]] == [
        ("2026-04-01", pytest.approx(2.5), pytest.approx(7.0), 2),
        ("2026-04-02", pytest.approx(2.5), pytest.approx(4.0), 2),
    ]
    assert got["daily"][0]["gpu_hours"] == pytest.approx(3.0)  # the 2-GPU job's half hour counts twice
    providers = {p["provider"]: (p["hours"], p["cost"], p["jobs"]) for p in got["by_provider"]}
    assert providers == {"mock": (pytest.approx(4.0), pytest.approx(9.0), 2), "runpod": (1.0, 2.0, 1)}
    gpus = {g["gpu_type"]: g["cost"] for g in got["by_gpu"]}
    assert gpus == {"H100-PCIE": pytest.approx(9.0), "A100-80GB-SXM": pytest.approx(2.0)}


async def test_running_jobs_count_up_to_now_and_into_the_next_month(api: Api, month: dict[str, Any]) -> None:
    earlier = await usage.current_usage(api.ctx, month["user_id"], now=at("2026-04-02T05:00:00"))
    later = await usage.current_usage(api.ctx, month["user_id"], now=at("2026-04-02T06:00:00"))
    assert later["total_cost"] - earlier["total_cost"] == pytest.approx(1.5)  # one more hour at 1.5 $/h

    may = await usage.current_usage(api.ctx, month["user_id"], now=at("2026-05-01T00:30:00"))
    assert may["period"] == "2026-05" and may["jobs"] == 1 and may["running_jobs"] == 1
    assert may["total_cost"] == pytest.approx(0.75) and may["hours"] == pytest.approx(0.5)
    assert [(d["date"], d["cost"]) for d in may["daily"]] == [("2026-05-01", pytest.approx(0.75))]


async def test_history_lists_ended_jobs_and_totals_per_month(api: Api, month: dict[str, Any]) -> None:
    now = at("2026-04-02T06:00:00")
    page = await usage.history(api.ctx, month["user_id"], limit=2, offset=0, now=now)
    assert page["total"] == 3  # the running job has no record yet, the one that never ran has none
    assert [r["job_id"] for r in page["records"]] == [month["over_midnight"], month["over_month_end"]]
    rest = await usage.history(api.ctx, month["user_id"], limit=2, offset=2, now=now)
    assert [r["job_id"] for r in rest["records"]] == [month["in_march"]]

    stopped = page["records"][1]
    assert stopped["status"] == "stopped" and stopped["provider"] == "mock"
    assert stopped["started_at"] == at("2026-03-31T22:00:00") and stopped["ended_at"] == at(
        "2026-04-01T02:00:00"
    )
    assert stopped["hours"] == pytest.approx(4.0) and stopped["cost"] == pytest.approx(12.0)
    assert stopped["cost_per_hour"] == 3.0 and stopped["gpu_count"] == 1
    assert [(m["period"], m["cost"], m["hours"], m["jobs"]) for m in page["months"]] == [
        ("2026-04", pytest.approx(8.0), pytest.approx(3.0), 2),
        ("2026-03", pytest.approx(8.0), pytest.approx(4.0), 2),
    ]


async def test_a_user_without_usage_gets_zeros_for_every_day_so_far(api: Api) -> None:
    user_id = (await api.register())["user_id"]
    got = await usage.current_usage(api.ctx, user_id, now=at("2026-02-03T10:00:00"))
    assert got["total_cost"] == 0.0 and got["jobs"] == 0 and got["by_provider"] == []
    assert [d["date"] for d in got["daily"]] == ["2026-02-01", "2026-02-02", "2026-02-03"]
    assert all(d["cost"] == 0.0 and d["hours"] == 0.0 for d in got["daily"])
    history = await usage.history(api.ctx, user_id, limit=50, offset=0)
    assert history == {"records": [], "total": 0, "limit": 50, "offset": 0, "months": []}


async def test_a_rolled_back_job_end_leaves_no_usage_record(api: Api) -> None:
    user_id = (await api.register())["user_id"]
    job_id = await start_job(api, user_id, "2026-04-01T10:00:00", 2.0)
    with pytest.raises(RuntimeError):
        async with api.ctx.db.write() as conn:
            await conn.execute(update(orm.jobs).where(J.id == job_id).values(status="completed"))
            await job_events.on_status_change(conn, job_id, "running")
            raise RuntimeError("the transaction fails after the change was recorded")
    assert (await usage.history(api.ctx, user_id, limit=10, offset=0))["total"] == 0
    await end_job(api, job_id, "completed", "2026-04-01T11:00:00")
    [record] = (await usage.history(api.ctx, user_id, limit=10, offset=0))["records"]
    assert record["cost"] == pytest.approx(2.0)
