"""``harvestgpu run``: submit a job, optionally wait for it or follow its log live."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from harvestgpu.cli.output import Output
from harvestgpu.cli.params import MAX_BUDGET_PER_HOUR, MAX_DURATION_HOURS, MAX_GPU_COUNT, positive_up_to
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.cli.views import job_summary, show_job
from harvestgpu.sdk import Job
from harvestgpu.sdk.client import DEFAULT_IMAGE


class PriorityChoice(StrEnum):
    """Routing priority."""

    cost = "cost"
    speed = "speed"
    availability = "availability"


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` to a dict; a pair without ``=`` or with an empty name is a usage error."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair.split('=')[0]!r}", param_hint="--env")
        env[name.strip()] = value
    return env


def run_job(
    ctx: typer.Context,
    gpu: Annotated[
        str, typer.Option("--gpu", help="GPU model: H100 (any variant), H100-SXM, A100-80GB, RTX4090, ...")
    ],
    image: Annotated[str, typer.Option("--image", help="Docker image to run.")] = DEFAULT_IMAGE,
    command: Annotated[
        str | None,
        typer.Option("--command", help="Command to run in the image (the image's default when omitted)."),
    ] = None,
    budget_max: Annotated[
        float | None,
        typer.Option(
            "--budget-max",
            help=f"Highest price to pay, in USD per hour (above 0, at most {MAX_BUDGET_PER_HOUR:,.0f}).",
            parser=positive_up_to(MAX_BUDGET_PER_HOUR),
            metavar="USD",
            show_default=False,
        ),
    ] = None,
    max_duration: Annotated[
        float | None,
        typer.Option(
            "--max-duration",
            help=f"Stop the job after this many hours (above 0, at most {MAX_DURATION_HOURS:,.0f}).",
            parser=positive_up_to(MAX_DURATION_HOURS),
            metavar="HOURS",
            show_default=False,
        ),
    ] = None,
    priority: Annotated[
        PriorityChoice, typer.Option("--priority", help="What routing optimises for.")
    ] = PriorityChoice.cost,
    gpu_count: Annotated[
        int, typer.Option("--gpu-count", help="GPUs per instance.", min=1, max=MAX_GPU_COUNT)
    ] = 1,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Only this provider: runpod, lambda, vastai, tensordock or mock."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="Environment variable NAME=VALUE for the command; repeatable."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job has finished.")] = False,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Print the job's log live until it finishes (implies --wait)."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Submit a GPU job; it runs on the cheapest matching GPU across your providers.

    With --wait or --follow the exit code is 0 only if the job completed (1 if it failed or was
    stopped, with the reason on stderr, also with --json). With --json and --follow, stdout is
    JSON Lines: {"type": "log", "line": ...} per line, then {"type": "job", "job": {...}}.
    """
    invocation = Invocation.of(ctx, json_output)
    output = invocation.output
    env_vars = parse_env(env or [])
    with invocation.client() as client:
        with output.spinner(f"Submitting a {gpu_count}x {gpu} job"):
            job = client.run(
                gpu=gpu,
                image=image,
                command=command,
                budget_max=budget_max,
                max_duration=max_duration,
                priority=priority.value,
                gpu_count=gpu_count,
                provider=provider,
                env=env_vars,
            )
        if follow:
            _follow(output, job)
        elif wait:
            if not output.json_mode:
                output.success(job_summary(job))
            with output.spinner(f"Waiting for job {job.id} to finish"):
                job.wait()
        if output.json_mode and not follow:
            output.json(job)
        elif not output.json_mode:
            _show_result(output, job, waited=wait or follow)
    if (wait or follow) and job.status != "completed":
        output.error(_failure(job))
        raise typer.Exit(1)


def _follow(output: Output, job: Job) -> None:
    if output.json_mode:
        for line in job.logs(follow=True):
            output.json_line({"type": "log", "line": line})
        job.refresh()
        output.json_line({"type": "job", "job": job})
        return
    output.success(job_summary(job))
    output.note("Following the log (Ctrl-C stops following; the job keeps running)")
    for line in job.logs(follow=True):
        output.log_line(line)
    job.refresh()


def _show_result(output: Output, job: Job, *, waited: bool) -> None:
    if not waited:
        output.success(job_summary(job))
        output.note(f"Follow it with: harvestgpu jobs logs {job.id} --follow")
        return
    if job.status == "completed":
        output.success(job_summary(job))
        return
    show_job(output, job)


def _failure(job: Job) -> str:
    """``Job abc failed (exit code 3): Command exited with code 3``: the error line of a waited job."""
    reason = f": {job.error}" if job.error else ""
    exit_code = f" (exit code {job.exit_code})" if job.exit_code is not None else ""
    return f"Job {job.id} {job.status}{exit_code}{reason}"
