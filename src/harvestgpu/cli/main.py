"""The ``harvestgpu`` command: global options, error handling and the command tree.

Every command talks to the server through the SDK, except ``server`` and ``worker``, which
start the server itself and import it only when run (the base install has no server deps).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from harvestgpu.cli import auth, jobs, keys, pricing, run, usage, webhooks
from harvestgpu.cli.output import Output
from harvestgpu.cli.state import GlobalOptions
from harvestgpu.errors import APIError, AuthenticationError, HarvestGPUError
from harvestgpu.sdk._version import VERSION

DEBUG_ENV = "HARVESTGPU_DEBUG"
SERVER_EXTRA_HINT = "the server is not installed here; install it with: pip install 'harvestgpu[server]'"


def _message(error: BaseException) -> str:
    if isinstance(error, APIError):
        message = error.message
        if isinstance(error, AuthenticationError) and error.request_id:
            message += " (check the key, or run `harvestgpu auth login`)"
        if error.request_id:
            message += f" [request id {error.request_id}]"
        return message
    if isinstance(error, HarvestGPUError):
        return error.message
    return str(error) or type(error).__name__


USAGE_EXIT_CODE = 2


def _usage_help_on_stderr(ctx: Any) -> typer.Exit:
    """Show the help of a command given without arguments on stderr; returns the exit to raise.

    That is a usage error (exit 2). Typer would print the help on stdout, which must stay clean
    so ``--json`` output always parses; ``--help`` itself still prints on stdout.
    """
    with contextlib.redirect_stdout(sys.stderr):
        help_text = ctx.get_help()  # the Rich renderer prints it (to stderr here) and returns ""
    if help_text:
        typer.echo(help_text, err=True)
    return typer.Exit(USAGE_EXIT_CODE)


class _HelpOnStderrGroup(TyperGroup):
    """A command group whose no-arguments help is a usage error on stderr (exit 2)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: click's Context, vendored or not
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            raise _usage_help_on_stderr(ctx)
        return super().parse_args(ctx, args)


class _HelpOnStderrCommand(TyperCommand):
    """A command whose no-arguments help is a usage error on stderr (exit 2)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: click's Context, vendored or not
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            raise _usage_help_on_stderr(ctx)
        return super().parse_args(ctx, args)


class _HarvestGPUGroup(_HelpOnStderrGroup):
    """Turns every failure into one line on stderr and exit code 1 (never a traceback)."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise  # exit codes, usage errors (exit 2), aborts and `| head` keep Typer's handling
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (HarvestGPUError, TimeoutError) as error:
            _report(ctx, _message(error))
            raise typer.Exit(1) from None
        except Exception as error:
            if os.environ.get(DEBUG_ENV):
                raise
            _report(ctx, f"unexpected {type(error).__name__}: {error} (set {DEBUG_ENV}=1 for a traceback)")
            raise typer.Exit(1) from None


def _report(ctx: typer.Context, message: str) -> None:
    options = ctx.find_root().obj
    Output(json_mode=isinstance(options, GlobalOptions) and options.json_output).error(message)


app = typer.Typer(
    cls=_HarvestGPUGroup,
    name="harvestgpu",
    help="Run GPU jobs on the cheapest GPU across your own RunPod, Lambda, Vast.ai and TensorDock accounts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"harvestgpu {VERSION}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout (for scripts).")
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="HarvestGPU API key; overrides HARVESTGPU_API_KEY and the key saved by `auth login`.",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Server URL; overrides HARVESTGPU_BASE_URL and the saved one (default http://localhost:5000).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Options given here apply to every command: ``harvestgpu --json jobs list``."""
    ctx.obj = GlobalOptions(json_output=json_output, api_key=api_key, base_url=base_url)


app.add_typer(auth.app, name="auth", cls=_HelpOnStderrGroup)
app.command("run", no_args_is_help=True, cls=_HelpOnStderrCommand)(run.run_job)
app.add_typer(jobs.app, name="jobs", cls=_HelpOnStderrGroup)
app.command("pricing")(pricing.show_pricing)
app.add_typer(keys.provider_keys_app, name="keys", cls=_HelpOnStderrGroup)
app.add_typer(keys.api_keys_app, name="api-keys", cls=_HelpOnStderrGroup)
app.add_typer(usage.app, name="usage", cls=_HelpOnStderrGroup)
app.add_typer(webhooks.app, name="webhooks", cls=_HelpOnStderrGroup)


def _server_commands() -> Any:
    try:
        return importlib.import_module("harvestgpu.server.cli_commands")
    except ImportError as error:
        raise HarvestGPUError(f"{SERVER_EXTRA_HINT} (missing module {error.name})") from None


@app.command("server")
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.", min=1, max=65535)] = 5000,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir", help="Where the database and key file live (default: the server's setting)."
        ),
    ] = None,
    no_workers: Annotated[
        bool,
        typer.Option(
            "--no-workers", help="Serve the API only; run `harvestgpu worker` processes separately."
        ),
    ] = False,
) -> None:
    """Start the HarvestGPU server (API, dashboard and, unless --no-workers, the job workers)."""
    _server_commands().server(host=host, port=port, data_dir=data_dir, no_workers=no_workers)


@app.command("worker")
def work(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus /metrics on this port (default: HARVESTGPU_WORKER_METRICS_PORT).",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run job workers only (for scale-out deployments with `server --no-workers`)."""
    _server_commands().worker(metrics_port=metrics_port)


admin_app = typer.Typer(
    help="Operator commands; they use the server's settings and database directly.", no_args_is_help=True
)


@admin_app.command("set-plan")
def admin_set_plan(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    plan: Annotated[str, typer.Argument(help="free, payg or enterprise.")],
) -> None:
    """Change an account's plan, and so its rate limits."""
    _server_commands().admin_set_plan(email, plan)
    typer.echo(f"{email} is now on the {plan} plan")


app.add_typer(admin_app, name="admin", cls=_HelpOnStderrGroup)


def main() -> None:
    """Console-script entry point (``harvestgpu``) and ``python -m harvestgpu``."""
    app(prog_name="harvestgpu")
