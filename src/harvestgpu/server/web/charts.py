"""The daily usage chart's geometry; templates/_usage_chart.html draws it as inline SVG.

Drawn on the server, with no chart library and nothing from a CDN. Bars are cost per UTC day
across the whole month, so the month's shape is visible from day one; days still to come are
empty slots. Colours come from app.css classes, as the CSP forbids inline styles.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

WIDTH = 720
HEIGHT = 240
LEFT = 56  # room for the y-axis labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the day labels
GRID_LINES = 4
MIN_VISIBLE_BAR = 1.5  # a day with any cost never looks like a day without
MIN_AXIS_TOP = 0.01  # below a cent a day, finer gridlines would only show rounding noise


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    cost: float
    gpu_hours: float
    jobs: int
    future: bool


@dataclass(frozen=True, slots=True)
class Bar:
    date: str
    x: float
    y: float
    width: float
    height: float
    tooltip: str
    future: bool


@dataclass(frozen=True, slots=True)
class AxisLabel:
    x: float
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class UsageChart:
    title: str
    bars: list[Bar]
    grid_ys: list[float]
    value_labels: list[AxisLabel]
    day_labels: list[AxisLabel]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT


def nice_ceiling(value: float, steps: int = GRID_LINES) -> float:
    """The smallest 1/2/2.5/5 x 10^n step times ``steps`` that reaches ``value`` (1.0 for 0)."""
    if value <= 0:
        return 1.0
    raw_step = value / steps
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * magnitude >= raw_step:
            return factor * magnitude * steps
    return 10.0 * magnitude * steps


def month_days(period: str, daily: Sequence[Mapping[str, Any]]) -> list[DayUsage]:
    """Every day of ``period`` (YYYY-MM); days missing from ``daily`` are still to come."""
    year, month = (int(part) for part in period.split("-"))
    known = {row["date"]: row for row in daily}
    days = []
    for number in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, number)
        row = known.get(day.isoformat())
        days.append(
            DayUsage(
                day=day,
                cost=float(row["cost"]) if row else 0.0,
                gpu_hours=float(row["gpu_hours"]) if row else 0.0,
                jobs=int(row["jobs"]) if row else 0,
                future=row is None,
            )
        )
    return days


def _tooltip(day: DayUsage) -> str:
    jobs = f"{day.jobs} job{'s' if day.jobs != 1 else ''}"
    return f"{day.day.isoformat()}: ${day.cost:,.4f} · {day.gpu_hours:,.2f} GPU hours · {jobs}"


def _money_text(value: float, step: float, top: float) -> str:
    """Whole dollars from $10 up; below, cents, or as many decimals as the step needs."""
    if top >= 10:
        return f"${value:,.0f}"
    decimals = next((d for d in (2, 3, 4) if abs(round(step, d) - step) < 1e-9), 4)
    return f"${value:,.{decimals}f}"


def usage_chart(period: str, daily: Sequence[Mapping[str, Any]]) -> UsageChart:
    days = month_days(period, daily)
    top = max(nice_ceiling(max(d.cost for d in days)), MIN_AXIS_TOP)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    slot = plot_w / len(days)
    bar_w = round(max(2.0, slot * 0.7), 1)
    bars, day_labels = [], []
    for index, day in enumerate(days):
        x = round(LEFT + index * slot + (slot - bar_w) / 2, 1)
        height = 2.0 if day.future else plot_h * day.cost / top
        if day.cost > 0:
            height = max(height, MIN_VISIBLE_BAR)
        height = round(height, 1)
        bars.append(
            Bar(day.day.isoformat(), x, round(baseline - height, 1), bar_w, height, _tooltip(day), day.future)
        )
        if day.day.day == 1 or day.day.day % 5 == 0:
            day_labels.append(AxisLabel(round(x + bar_w / 2, 1), HEIGHT - 8, str(day.day.day)))
    grid_ys, value_labels = [], []
    for step in range(GRID_LINES + 1):
        value = top * step / GRID_LINES
        y = round(baseline - plot_h * step / GRID_LINES, 1)
        grid_ys.append(y)
        value_labels.append(AxisLabel(LEFT - 6, y + 4, _money_text(value, top / GRID_LINES, top)))
    total = sum(d.cost for d in days)
    return UsageChart(
        title=f"Cost per day in {period}: ${total:,.2f} in total",
        bars=bars,
        grid_ys=grid_ys,
        value_labels=value_labels,
        day_labels=day_labels,
    )
