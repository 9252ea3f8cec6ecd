"""``harvestgpu webhooks``: register, list and remove webhooks; inspect and re-send deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from harvestgpu.cli.output import Output, text, when
from harvestgpu.cli.state import Invocation, JsonOption
from harvestgpu.sdk.types import WebhookDelivery

app = typer.Typer(
    help="Register, list and remove webhooks; see their deliveries and send one again.",
    no_args_is_help=True,
)

EVENT_NAMES = "job.running, job.completed, job.failed, job.stopped, budget.exceeded"
DELIVERY_STYLES = {"pending": "yellow", "delivered": "green", "failed": "red"}
DELIVERY_COLUMNS = [
    "ID",
    "Event",
    "Event ID",
    "Status",
    "Attempts",
    "HTTP",
    "Last error",
    "Created",
    "Next/Done",
]

WebhookIdArgument = Annotated[
    str, typer.Argument(help="The webhook's id (from `harvestgpu webhooks list`).", show_default=False)
]


def _delivery_status(status: str) -> str:
    return f"[{DELIVERY_STYLES.get(status, 'white')}]{text(status)}[/]"


def _delivery_row(delivery: WebhookDelivery) -> list[str]:
    settled = delivery.delivered_at if delivery.status == "delivered" else delivery.next_attempt_at
    return [
        text(delivery.id),
        text(delivery.event),
        text(delivery.event_id),
        _delivery_status(delivery.status),
        str(delivery.attempts),
        text(delivery.response_status),
        text(delivery.last_error),
        when(delivery.created_at),
        when(settled),
    ]


def show_deliveries(output: Output, deliveries: list[WebhookDelivery]) -> None:
    """The deliveries table (or a note when there are none)."""
    if not deliveries:
        output.print("No deliveries yet: events are sent when your jobs change state")
        return
    output.table("Deliveries", DELIVERY_COLUMNS, [_delivery_row(delivery) for delivery in deliveries])


@app.command("add")
def add_webhook(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(help="Where to POST events: an http(s) URL on a public address.", show_default=False),
    ],
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help=f"Comma-separated events to send (default: all): {EVENT_NAMES}.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Register a webhook. Its signing secret is printed once: store it now."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        created = client.webhooks.create(url, events)
    if invocation.json:
        invocation.output.json(created)
        return
    output = invocation.output
    output.success(f"Created webhook [bold]{text(created.id)}[/] for {text(', '.join(created.events))}")
    output.print(f"Signing secret: {text(created.secret)}")
    output.warn("This is the only time the secret is shown: store it where your receiver can read it")


@app.command("list")
def list_webhooks(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """List your webhooks (their secrets are never shown again)."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        webhooks = client.webhooks.list()
    if invocation.json:
        invocation.output.json(webhooks)
        return
    if not webhooks:
        invocation.output.print("No webhooks yet: add one with `harvestgpu webhooks add URL`")
        return
    invocation.output.table(
        "Webhooks",
        ["ID", "URL", "Events", "Created"],
        [
            [text(hook.id), text(hook.url), text(", ".join(hook.events)), when(hook.created_at)]
            for hook in webhooks
        ],
    )


@app.command("remove")
def remove_webhook(
    ctx: typer.Context, webhook_id: WebhookIdArgument, json_output: JsonOption = False
) -> None:
    """Delete a webhook; its pending deliveries are dropped."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        client.webhooks.delete(webhook_id)
    if invocation.json:
        invocation.output.json({"id": webhook_id, "deleted": True})
        return
    invocation.output.success(f"Removed webhook {text(webhook_id)}")


@app.command("deliveries")
def list_deliveries(
    ctx: typer.Context,
    webhook_id: WebhookIdArgument,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", help="Show at most this many deliveries (newest first); pages as needed.", min=1
        ),
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """A webhook's deliveries, newest first: status, attempts, last HTTP status and error.

    --json prints a JSON array of delivery objects (each with its payload).
    """
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        pages = client.webhooks.deliveries(webhook_id, limit=limit)
        deliveries = list(pages)
    if invocation.json:
        invocation.output.json(deliveries)
        return
    show_deliveries(invocation.output, deliveries)
    if pages.total is not None and pages.total > len(deliveries):
        invocation.output.note(
            f"Showing {len(deliveries)} of {pages.total} deliveries; use --limit to see more"
        )


@app.command("resend")
def resend_delivery(
    ctx: typer.Context,
    webhook_id: WebhookIdArgument,
    delivery_id: Annotated[
        str,
        typer.Argument(help="The delivery's id (from `harvestgpu webhooks deliveries`).", show_default=False),
    ],
    json_output: JsonOption = False,
) -> None:
    """Send a delivery's event again (same event id and body) as a new delivery."""
    invocation = Invocation.of(ctx, json_output)
    with invocation.client() as client:
        queued = client.webhooks.resend(webhook_id, delivery_id)
    if invocation.json:
        invocation.output.json(queued)
        return
    invocation.output.success(
        f"Queued {text(queued.event)} ({text(queued.event_id)}) again as delivery [bold]{text(queued.id)}[/]"
    )
