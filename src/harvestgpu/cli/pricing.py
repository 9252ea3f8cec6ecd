"""``harvestgpu pricing``: the live price matrix across providers."""

from __future__ import annotations

from typing import Annotated

import typer

from harvestgpu.cli.output import money, text
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.sdk.types import PriceList

PRICE_COLUMNS = ["GPU", "Name", "Provider", "$/h", "GPUs", "VRAM", "Region", "Available", "Age"]


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _rows(prices: PriceList) -> list[list[str]]:
    return [
        [
            text(entry.gpu_model),
            text(entry.gpu_name),
            text(entry.provider),
            money(entry.price),
            str(entry.gpu_count),
            f"{entry.vram_gb} GB",
            text(entry.region),
            "[green]yes[/]" if entry.available else "[dim]no[/]",
            _age(entry.age_s),
        ]
        for entry in prices
    ]


def show_pricing(
    ctx: typer.Context,
    gpu: Annotated[
        str | None, typer.Option("--gpu", help="Only this GPU (H100 means every H100 variant).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show current GPU prices across providers, cheapest first (no API key needed).

    With an API key (option, env or `auth login`), the prices of your connected accounts are
    included. --json prints {"pricing": [...], "providers": [...]}.
    """
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client, invocation.output.spinner("Fetching prices"):
        prices = client.pricing(gpu=gpu)
    if invocation.json:
        invocation.output.json({"pricing": list(prices), "providers": prices.providers})
        return
    if prices:
        title = f"GPU prices for {gpu}" if gpu else "GPU prices"
        invocation.output.table(title, PRICE_COLUMNS, _rows(prices))
    else:
        invocation.output.print(f"No offers for {text(gpu)} right now" if gpu else "No offers right now")
    for status in prices.providers:
        if status.state == "error":
            invocation.output.warn(f"{text(status.provider)}: {text(status.error or 'unavailable')}")
