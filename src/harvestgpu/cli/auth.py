"""``harvestgpu auth``: log in with an API key, show the account, log out."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from harvestgpu.cli.config import CliConfig, config_path, forget_api_key, load_config, save_config
from harvestgpu.cli.output import money, text
from harvestgpu.cli.prompts import ask_secret
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.cli.views import show_jobs
from harvestgpu.sdk import HarvestGPU
from harvestgpu.sdk._transport import API_KEY_ENV, clean_api_key, normalize_base_url

app = typer.Typer(help="Log in with an API key, show who you are, log out.", no_args_is_help=True)


def _key_source(invocation: Invocation) -> str:
    if clean_api_key(invocation.options.api_key):
        return "--api-key option"
    if clean_api_key(os.environ.get(API_KEY_ENV)):
        return f"{API_KEY_ENV} environment variable"
    if load_config().api_key:
        return str(config_path())
    return "none"


@app.command("login")
def login(
    ctx: typer.Context,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help=(
                "Your HarvestGPU API key (hg_live_...). When omitted: asked for (hidden) on a "
                "terminal, otherwise read from the first line of stdin."
            ),
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Server URL to save with the key.", show_default=False),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check the key against the server (GET /auth/me), then save key and server URL (mode 0600)."""
    invocation = Invocation.of(ctx, json_output)
    key = ask_secret(invocation.output, "HarvestGPU API key") if key is None else key.strip()
    if not key:
        raise typer.BadParameter("the API key is empty", param_hint="--key")
    url = normalize_base_url(base_url or invocation.resolved_base_url())
    with HarvestGPU(api_key=key, base_url=url) as gpu, invocation.output.spinner("Checking the key"):
        account = gpu.auth.me()
    path = save_config(CliConfig(api_key=key, base_url=url))
    if invocation.json:
        invocation.output.json(
            {"user_id": account.user_id, "email": account.email, "base_url": url, "config_path": str(path)}
        )
        return
    invocation.output.success(f"Logged in as [bold]{text(account.email)}[/] at {text(url)}")
    invocation.output.note(f"Key saved to {path}")
    if clean_api_key(os.environ.get(API_KEY_ENV)) not in (None, key):
        invocation.output.warn(f"{API_KEY_ENV} is set to another key and takes precedence over the saved one")


@app.command("whoami")
def whoami(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the account behind the current key, this period's usage and the active jobs."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as gpu:
        account = gpu.auth.me()
    if invocation.json:
        invocation.output.json(account)
        return
    usage = account.usage
    invocation.output.fields(
        [
            ("Email", text(account.email)),
            ("User ID", text(account.user_id)),
            ("Company", text(account.company)),
            ("Plan", text(account.plan)),
            ("Server", text(invocation.resolved_base_url())),
            ("Key from", text(_key_source(invocation))),
            (
                f"Usage ({text(usage.period)})",
                f"{money(usage.total_cost)} · {usage.jobs} jobs · {usage.gpu_hours:.2f} GPU hours",
            ),
        ]
    )
    if account.active_jobs:
        show_jobs(invocation.output, account.active_jobs, title="Active jobs")


@app.command("logout")
def logout(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Forget the saved API key (the saved server URL stays)."""
    invocation = Invocation.of(ctx, json_output)
    removed = forget_api_key()
    env_key_set = clean_api_key(os.environ.get(API_KEY_ENV)) is not None
    if invocation.json:
        invocation.output.json({"logged_out": removed, "env_key_still_set": env_key_set})
    elif removed:
        invocation.output.success("Logged out: the saved API key was removed")
    else:
        invocation.output.print("No saved API key: nothing to do")
    if env_key_set and not invocation.json:
        invocation.output.warn(f"{API_KEY_ENV} is still set in your environment and will keep being used")
