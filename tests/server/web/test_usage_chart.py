"""The server-drawn daily usage chart, and the Usage section of Settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from harvestgpu.server.web.charts import month_days, nice_ceiling, usage_chart
from tests.conftest import Api
from tests.server.web.helpers import browser


def _bar_heights(svg: str) -> dict[str, float]:
    return {d: float(h) for d, h in re.findall(r'data-date="([\d-]+)"[^>]* height="([\d.]+)"', svg)}


def test_axis_tops_are_round_numbers_at_or_above_the_highest_day() -> None:
    assert nice_ceiling(0) == 1.0
    assert nice_ceiling(0.37) == 0.4
    assert nice_ceiling(3.1) == 4.0
    assert nice_ceiling(7.5) == 8.0
    assert nice_ceiling(41) == 80.0
    assert nice_ceiling(1234) == 2000.0


def test_the_whole_month_is_drawn_and_days_to_come_are_empty_slots() -> None:
    daily = [
        {"date": "2026-02-01", "cost": 1.0, "gpu_hours": 0.5, "jobs": 1},
        {"date": "2026-02-02", "cost": 0.0, "gpu_hours": 0.0, "jobs": 0},
        {"date": "2026-02-03", "cost": 4.0, "gpu_hours": 2.0, "jobs": 3},
    ]
    assert [d.future for d in month_days("2026-02", daily)[:4]] == [False, False, False, True]
    chart = usage_chart("2026-02", daily)
    assert len(chart.bars) == 28 and sum(bar.future for bar in chart.bars) == 25
    first, empty, busiest = chart.bars[:3]
    assert busiest.height == 4 * first.height and empty.height == 0
    assert first.y + first.height == busiest.y + busiest.height  # one baseline
    assert busiest.tooltip == "2026-02-03: $4.0000 · 2.00 GPU hours · 3 jobs"
    assert chart.title == "Cost per day in 2026-02: $5.00 in total"
    assert [label.text for label in chart.value_labels] == ["$0.00", "$1.00", "$2.00", "$3.00", "$4.00"]
    assert [label.text for label in chart.day_labels] == ["1", "5", "10", "15", "20", "25"]


def test_a_tiny_cost_still_shows_a_visible_bar() -> None:
    chart = usage_chart("2026-03", [{"date": "2026-03-01", "cost": 0.0001, "gpu_hours": 0.01, "jobs": 1}])
    assert chart.bars[0].height >= 1.5 and len(chart.bars) == 31
    labels = [label.text for label in chart.value_labels]
    assert labels == ["$0.0000", "$0.0025", "$0.0050", "$0.0075", "$0.0100"]


def test_large_amounts_are_labelled_in_whole_dollars() -> None:
    chart = usage_chart("2026-04", [{"date": "2026-04-01", "cost": 1234.0, "gpu_hours": 400, "jobs": 9}])
    assert [label.text for label in chart.value_labels] == ["$0", "$500", "$1,000", "$1,500", "$2,000"]


async def test_settings_show_this_months_usage_with_todays_bar(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("usage@example.com")
        page = (await member.get("/settings")).text
        assert "No GPU time used this month yet." in page and 'class="chart"' not in page
        job_id = await member.submitted_job_id(gpu="T4")
        await api.run_until(member.as_api_user, job_id, "running")
        await member.submit(f"/jobs/{job_id}", f"/jobs/{job_id}/stop", {})
        page = (await member.get("/settings")).text
        today = datetime.now(UTC).date().isoformat()
        assert _bar_heights(page)[today] > 0
        assert re.search(rf'<tr data-day="{today}"><td>{today}</td><td class="num">1</td>', page)
        assert "<td>mock</td>" in page and "<td>T4</td>" in page
