"""``harvestgpu usage``: this month's spend, the history of ended jobs, the monthly spend limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from harvestgpu.cli.output import Output, money, styled_status, text, when
from harvestgpu.cli.params import MAX_MONTHLY_LIMIT, positive_problem
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.sdk.types import MonthlyUsage, SpendLimit, UsageByMonth, UsageRecord, UsageTotals

# No help= here: the callback's docstring is the group's help, as it is what `usage` alone runs.
app = typer.Typer(invoke_without_command=True)

TOTALS_COLUMNS = ["Jobs", "Hours", "GPU hours", "Cost"]
RECORD_COLUMNS = ["Job", "Status", "Provider", "GPU", "$/h", "Started", "Ended", "Hours", "Cost"]


def hours(value: float) -> str:
    """``12.50``; short spans keep their digits (``0.0004``) so they do not read as nothing."""
    if 0 < abs(value) < 0.01:
        return f"{value:.4f}"
    return f"{value:,.2f}"


def _totals_cells(totals: UsageTotals) -> list[str]:
    return [str(totals.jobs), hours(totals.hours), hours(totals.gpu_hours), money(totals.cost)]


def _spend_line(spent: float, limit: float | None, remaining: float | None) -> str:
    if limit is None:
        return f"{money(spent)} [dim](no monthly limit)[/]"
    style = "red" if remaining is not None and remaining <= 0 else "green"
    return f"{money(spent)} of {money(limit)} [{style}]({money(remaining)} left)[/]"


def show_month(output: Output, usage: MonthlyUsage) -> None:
    """The month's totals, then the days with usage, then the split by provider and by GPU."""
    running = f" ({usage.running_jobs} running)" if usage.running_jobs else ""
    output.fields(
        [
            ("Period", f"{text(usage.period)} [dim](UTC, as of {when(usage.as_of)})[/]"),
            ("Spent", _spend_line(usage.total_cost, usage.monthly_limit, usage.remaining)),
            ("Jobs", f"{usage.jobs}{running}"),
            ("Hours", f"{hours(usage.hours)} instance hours · {hours(usage.gpu_hours)} GPU hours"),
        ]
    )
    active_days = [day for day in usage.daily if day.jobs or day.cost or day.hours]
    if not active_days:
        output.print("\nNo GPU time this month yet")
        return
    output.table(
        "Daily (days with usage)",
        ["Date", *TOTALS_COLUMNS],
        [[day.date.isoformat(), *_totals_cells(day)] for day in active_days],
    )
    output.table(
        "By provider",
        ["Provider", *TOTALS_COLUMNS],
        [[text(item.provider), *_totals_cells(item)] for item in usage.by_provider],
    )
    output.table(
        "By GPU",
        ["GPU", *TOTALS_COLUMNS],
        [[text(item.gpu_type), *_totals_cells(item)] for item in usage.by_gpu],
    )


def _record_row(record: UsageRecord) -> list[str]:
    gpu = record.gpu_type if record.gpu_count == 1 else f"{record.gpu_count}x {record.gpu_type}"
    return [
        text(record.job_id),
        styled_status(record.status),
        text(record.provider),
        text(gpu),
        money(record.cost_per_hour),
        when(record.started_at),
        when(record.ended_at),
        hours(record.hours),
        money(record.cost),
    ]


def show_limit(output: Output, limit: SpendLimit) -> None:
    """The limit, this month's spend and what is left."""
    output.fields(
        [
            ("Monthly limit", money(limit.monthly_limit) if limit.monthly_limit is not None else "none"),
            (f"Spent ({text(limit.period)})", money(limit.spent)),
            ("Left", money(limit.remaining)),
        ]
    )


@app.callback()
def current_month(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """This month's usage (UTC): totals, days with usage, by provider and GPU; also `history`, `limit`.

    Without a command: this calendar month, running jobs counted up to now. --json prints the
    /billing/usage object (every day of the month included).
    """
    if ctx.invoked_subcommand is not None:
        return
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        usage = client.usage()
    if invocation.json:
        invocation.output.json(usage)
        return
    show_month(invocation.output, usage)


@app.command("history")
def usage_history(
    ctx: typer.Context,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", help="Show at most this many records (newest first); pages as needed.", min=1
        ),
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """What each ended job cost (newest first), and the totals per calendar month.

    --json prints {"records": [...], "total": N, "months": [...]}.
    """
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        history = client.usage_history(limit=limit)
        records = list(history)
    months = history.months or []
    if invocation.json:
        invocation.output.json({"records": records, "total": history.total, "months": months})
        return
    _show_history(invocation.output, records, months, history.total)


def _show_history(
    output: Output, records: Sequence[UsageRecord], months: Sequence[UsageByMonth], total: int | None
) -> None:
    if not records:
        output.print("No usage yet: records appear when jobs that ran have ended")
        return
    output.table("Ended jobs", RECORD_COLUMNS, [_record_row(record) for record in records])
    output.table(
        "By month",
        ["Month", *TOTALS_COLUMNS],
        [[text(month.period), *_totals_cells(month)] for month in months],
    )
    if total is not None and total > len(records):
        output.note(f"Showing {len(records)} of {total} records; use --limit to see more")


@app.command("limit")
def spend_limit(
    ctx: typer.Context,
    amount: Annotated[
        float | None,
        typer.Argument(
            help=(
                f"New monthly limit in USD, above 0, at most {MAX_MONTHLY_LIMIT:,.0f} "
                "(omit to show the current one)."
            ),
            show_default=False,
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the monthly limit.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show, set or (--clear) remove your monthly spend limit (USD, calendar month in UTC).

    Once the month's spend reaches it, submits are refused and running jobs are stopped.
    --json prints {"monthly_limit", "period", "spent", "remaining"}.
    """
    if amount is not None and clear:
        raise typer.BadParameter("give a new AMOUNT or --clear, not both", param_hint="AMOUNT")
    problem = positive_problem(amount, MAX_MONTHLY_LIMIT) if amount is not None else None
    if problem is not None:
        raise typer.BadParameter(f"{problem} (use --clear to remove the limit)", param_hint="AMOUNT")
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        if clear:
            limit = client.set_billing_limit(None)
        elif amount is not None:
            limit = client.set_billing_limit(amount)
        else:
            limit = client.billing_limit()
    if invocation.json:
        invocation.output.json(limit)
        return
    if clear:
        invocation.output.success("Removed the monthly spend limit")
    elif amount is not None:
        invocation.output.success(f"Monthly spend limit set to {money(limit.monthly_limit)}")
    show_limit(invocation.output, limit)
