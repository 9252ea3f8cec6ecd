"""``harvestgpu jobs``: list, inspect, read logs of and stop jobs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from harvestgpu.cli.output import money, styled_status, text
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.cli.views import show_job, show_jobs

app = typer.Typer(help="List jobs, show one, read its logs, stop it.", no_args_is_help=True)

JobIdArgument = Annotated[
    str, typer.Argument(help="The job's id (from `harvestgpu jobs list`).", show_default=False)
]


class StatusChoice(StrEnum):
    """Job states."""

    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    stopped = "stopped"


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[StatusChoice | None, typer.Option("--status", help="Only jobs in this state.")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu", help="Only jobs for this GPU.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only jobs on this provider.")] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", help="Show at most this many jobs (newest first); pages as needed.", min=1),
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """List your jobs, newest first."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        pages = client.jobs(status=status.value if status else None, gpu=gpu, provider=provider, limit=limit)
        jobs = list(pages)
    if invocation.json:
        invocation.output.json(jobs)
        return
    show_jobs(invocation.output, jobs)
    if pages.total is not None and pages.total > len(jobs):
        invocation.output.note(f"Showing {len(jobs)} of {pages.total} jobs; use --limit to see more")


@app.command("status")
def job_status(ctx: typer.Context, job_id: JobIdArgument, json_output: JsonOption = False) -> None:
    """Show one job: where it runs, what it costs, how it was routed."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        job = client.job(job_id)
    if invocation.json:
        invocation.output.json(job)
        return
    show_job(invocation.output, job)


@app.command("logs")
def job_logs(
    ctx: typer.Context,
    job_id: JobIdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job finishes.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Print a job's log. With --follow, print it live until the job ends.

    With --json: one object {"job_id", "status", "exit_code", "lines"}; with --json --follow,
    JSON Lines {"type": "log", "line": ...} then {"type": "end", "status", "exit_code"}.
    """
    invocation = Invocation.of(ctx, json_output)
    output = invocation.output
    with invocation.client() as client:
        job = client.job(job_id)
        if not follow:
            log_text = job.logs()
            if invocation.json:
                lines = log_text.split("\n") if log_text else []
                output.json(
                    {"job_id": job.id, "status": job.status, "exit_code": job.exit_code, "lines": lines}
                )
            elif log_text:
                output.log_line(log_text)
            else:
                output.note(f"No log lines yet (job is {job.status})")
            return
        for line in job.logs(follow=True):
            if invocation.json:
                output.json_line({"type": "log", "line": line})
            else:
                output.log_line(line)
    if invocation.json:
        output.json_line({"type": "end", "status": job.status, "exit_code": job.exit_code})
    else:
        exit_code = "" if job.exit_code is None else f" (exit code {job.exit_code})"
        output.err.print(f"Job {styled_status(job.status)}{exit_code}", soft_wrap=True)


@app.command("stop")
def stop_job(ctx: typer.Context, job_id: JobIdArgument, json_output: JsonOption = False) -> None:
    """Stop a job: its instance is terminated and billing ends."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client, invocation.output.spinner(f"Stopping job {job_id}"):
        job = client.job(job_id).stop()
    if invocation.json:
        invocation.output.json(job)
        return
    invocation.output.success(f"Stopped job [bold]{text(job.id)}[/] (total cost {money(job.total_cost)})")
