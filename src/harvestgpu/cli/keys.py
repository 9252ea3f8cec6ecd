"""``harvestgpu keys`` (your GPU cloud keys) and ``harvestgpu api-keys`` (your HarvestGPU keys)."""

from __future__ import annotations

from typing import Annotated

import typer

from harvestgpu.cli.output import text, when
from harvestgpu.cli.prompts import ask_secret
from harvestgpu.cli.state import Invocation, JsonOption

provider_keys_app = typer.Typer(
    help="Connect, list, test and remove your GPU provider keys (RunPod, Lambda, Vast.ai, TensorDock).",
    no_args_is_help=True,
)
api_keys_app = typer.Typer(help="Create, list and revoke your HarvestGPU API keys.", no_args_is_help=True)

ProviderArgument = Annotated[
    str, typer.Argument(help="Provider slug: runpod, lambda, vastai or tensordock.", show_default=False)
]


def _test_result(valid: bool | None, message: str | None) -> str:
    if valid is None:
        return "[dim]not tested[/]"
    mark = "[green]valid[/]" if valid else "[red]invalid[/]"
    return f"{mark} {text(message)}" if message else mark


@provider_keys_app.command("add")
def add_key(
    ctx: typer.Context,
    provider: ProviderArgument,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help=(
                "The provider's API key. When omitted: asked for (hidden) on a terminal, "
                "otherwise read from the first line of stdin."
            ),
            show_default=False,
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for this account.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Connect a provider account (replaces the provider's previous key). The key is never shown back."""
    invocation = Invocation.of(ctx, json_output)
    if key is None:
        key = ask_secret(invocation.output, f"{provider} API key")
    with invocation.client() as client, invocation.output.spinner(f"Saving the {provider} key"):
        stored = client.provider_keys.add(provider, key.strip(), label=label)
    if invocation.json:
        invocation.output.json(stored)
        return
    invocation.output.success(f"Connected [bold]{text(stored.provider)}[/] (key …{text(stored.last4)})")
    if stored.last_test_valid is not None:
        invocation.output.print(
            f"Key check: {_test_result(stored.last_test_valid, stored.last_test_message)}"
        )


@provider_keys_app.command("list")
def list_keys(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List connected providers (last 4 characters of each key only)."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        stored = client.provider_keys.list()
    if invocation.json:
        invocation.output.json(stored)
        return
    if not stored:
        invocation.output.print("No provider keys yet: add one with `harvestgpu keys add PROVIDER --key KEY`")
        return
    invocation.output.table(
        "Provider keys",
        ["Provider", "Label", "Key", "Active", "Added", "Last test"],
        [
            [
                text(item.provider),
                text(item.label),
                f"…{text(item.last4)}",
                "yes" if item.active else "[dim]no[/]",
                when(item.created_at),
                _test_result(item.last_test_valid, item.last_test_message),
            ]
            for item in stored
        ],
    )


@provider_keys_app.command("remove")
def remove_key(ctx: typer.Context, provider: ProviderArgument, json_output: JsonOption = False) -> None:
    """Disconnect a provider and delete its stored key."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        client.provider_keys.remove(provider)
    if invocation.json:
        invocation.output.json({"provider": provider, "deleted": True})
        return
    invocation.output.success(f"Removed the {text(provider)} key")


@provider_keys_app.command("test")
def check_key(ctx: typer.Context, provider: ProviderArgument, json_output: JsonOption = False) -> None:
    """Ask the provider whether the stored key works (exit code 1 if it does not)."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client, invocation.output.spinner(f"Testing the {provider} key"):
        result = client.provider_keys.test(provider)
    if invocation.json:
        invocation.output.json(result)
    elif result.valid:
        invocation.output.success(f"{text(result.provider)} key is valid: {text(result.message)}")
    else:
        invocation.output.error(f"{result.provider} key is invalid: {result.message}")
    if not result.valid:
        raise typer.Exit(1)


@api_keys_app.command("create")
def create_api_key(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="A name to recognise the key by, e.g. 'ci'.", show_default=False)
    ],
    json_output: JsonOption = False,
) -> None:
    """Create an API key. It is printed once: store it now."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        created = client.api_keys.create(name)
    if invocation.json:
        invocation.output.json(created)
        return
    invocation.output.success(f"Created API key [bold]{text(created.name)}[/] (id {text(created.id)})")
    invocation.output.print(text(created.api_key))
    invocation.output.warn("This is the only time the key is shown: store it now")


@api_keys_app.command("list")
def list_api_keys(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List your API keys (prefixes only)."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        api_keys = client.api_keys.list()
    if invocation.json:
        invocation.output.json(api_keys)
        return
    invocation.output.table(
        "API keys",
        ["ID", "Name", "Prefix", "Created", "Last used"],
        [
            [
                text(item.id),
                text(item.name),
                text(item.prefix),
                when(item.created_at),
                when(item.last_used_at),
            ]
            for item in api_keys
        ],
    )


@api_keys_app.command("revoke")
def revoke_api_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (from `api-keys list`).", show_default=False)],
    json_output: JsonOption = False,
) -> None:
    """Revoke an API key; it stops working at once."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        client.api_keys.revoke(key_id)
    if invocation.json:
        invocation.output.json({"id": key_id, "revoked": True})
        return
    invocation.output.success(f"Revoked API key {text(key_id)}")
