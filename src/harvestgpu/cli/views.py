"""How jobs look to people: the jobs table, the job detail view and the one-line summary."""

from __future__ import annotations

from collections.abc import Sequence

from harvestgpu.cli.output import Output, money, styled_status, text, when
from harvestgpu.models import JobOut

JOB_COLUMNS = ["ID", "GPU", "Running on", "Provider", "Status", "$/h", "Total", "Created"]


def job_row(job: JobOut) -> list[str]:
    """One row of the jobs table."""
    return [
        text(job.id),
        text(job.gpu if job.gpu_count == 1 else f"{job.gpu_count}x {job.gpu}"),
        text(job.gpu_type),
        text(job.provider),
        styled_status(job.status),
        money(job.cost_per_hour),
        money(job.total_cost),
        when(job.created_at),
    ]


def show_jobs(output: Output, jobs: Sequence[JobOut], title: str | None = None) -> None:
    """The jobs table (or a note when there are none)."""
    if not jobs:
        output.print("No jobs found")
        return
    output.table(title, JOB_COLUMNS, [job_row(job) for job in jobs])


def job_summary(job: JobOut) -> str:
    """``Job abc running on mock (H100-SXM, us-east) at $2.86/h`` in Rich markup."""
    where = f" on [bold]{text(job.provider)}[/]" if job.provider else ""
    place = ", ".join(text(part) for part in (job.gpu_type, job.region) if part)
    place = f" ({place})" if place else ""
    price = f" at {money(job.cost_per_hour, '/h')}" if job.cost_per_hour is not None else ""
    return f"Job [bold]{text(job.id)}[/] {styled_status(job.status)}{where}{place}{price}"


def show_job(output: Output, job: JobOut) -> None:
    """Every field of one job, then how it was routed."""
    exit_code = "—" if job.exit_code is None else str(job.exit_code)
    output.fields(
        [
            ("ID", text(job.id)),
            ("Status", styled_status(job.status)),
            ("GPU", text(f"{job.gpu_count}x {job.gpu}" if job.gpu_count > 1 else job.gpu)),
            ("Running on", text(job.gpu_type)),
            ("Provider", text(job.provider)),
            ("Region", text(job.region)),
            ("Image", text(job.image)),
            ("Command", text(job.command)),
            ("Priority", text(job.priority)),
            ("Budget", money(job.budget_max_per_hour, "/h")),
            ("Max duration", "—" if job.max_duration_hours is None else f"{job.max_duration_hours:g} h"),
            ("Price", money(job.cost_per_hour, "/h")),
            ("Total cost", money(job.total_cost)),
            ("Created", when(job.created_at)),
            ("Started", when(job.started_at)),
            ("Ended", when(job.ended_at)),
            ("Exit code", exit_code),
            ("Error", f"[red]{text(job.error)}[/]" if job.error else "—"),
            ("Env", text(", ".join(job.env_keys) or None)),
        ]
    )
    routing = job.routing
    if routing is None:
        return
    if routing.chosen is not None:
        chosen = routing.chosen
        output.print(
            f"\n[bold]Routing:[/] {text(chosen.provider)} {text(chosen.gpu_model)} in {text(chosen.region)} "
            f"at {money(chosen.price_per_hour, '/h')} — {text(chosen.reason)}"
        )
    if routing.attempts:
        output.table(
            "Launch attempts",
            ["#", "Provider", "GPU", "Region", "$/h", "Outcome", "Error"],
            [
                [
                    str(attempt.n),
                    text(attempt.provider),
                    text(attempt.gpu_model),
                    text(attempt.region),
                    money(attempt.price_per_hour),
                    text(attempt.outcome),
                    text(attempt.error),
                ]
                for attempt in routing.attempts
            ],
        )
