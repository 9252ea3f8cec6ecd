"""Webhooks in Settings: create (signing secret shown once), delete, and each one's deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from harvestgpu.server.api.webhooks import WebhookCreateRequest
from harvestgpu.server.errors import BadRequest, Conflict, NotFound
from harvestgpu.server.services import webhooks
from harvestgpu.server.web import once
from harvestgpu.server.web.forms import FORM_ERROR, read_form, validate
from harvestgpu.server.web.rendering import WebRoute, redirect, render
from harvestgpu.server.web.session import ctx_of, require_user
from harvestgpu.server.web.settings_pages import render_settings

router = APIRouter(route_class=WebRoute, include_in_schema=False)

DELIVERIES_PAGE = 25
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
_FIELD_PREFIX = "Field '"


def _split_field(message: str) -> tuple[str, str]:
    """The service says "Field 'url': why"; put "why" next to the url field."""
    if message.startswith(_FIELD_PREFIX) and "': " in message:
        field, _, why = message[len(_FIELD_PREFIX) :].partition("': ")
        return field, why[:1].upper() + why[1:] + ("" if why.endswith(".") else ".")
    return FORM_ERROR, message


@router.get("/settings/webhooks")
async def webhooks_section() -> Response:
    return redirect("/settings#webhooks")


@router.post("/settings/webhooks")
async def create_webhook(request: Request) -> Response:
    user = await require_user(request)
    fields = await read_form(request)
    url = (fields.get("url") or "").strip()
    events = fields.every("events")
    form, errors = validate(WebhookCreateRequest, {"url": url, "events": events})
    if not events:
        errors["events"] = "Choose at least one event."
    if form is not None and not errors:
        token = fields.get(once.SUBMIT_FIELD)
        if not once.claim(request, user.id, "webhook", token):
            return redirect("/settings?notice=webhook-already-created#webhooks")
        try:
            created = await webhooks.create(ctx_of(request), user, form.url, events)
        except (BadRequest, Conflict) as exc:
            once.release(request, user.id, "webhook", token)
            field, message = _split_field(exc.message)
            errors = {field: message}
        else:
            return await render_settings(request, user, new_webhook=created)
    return await render_settings(
        request,
        user,
        errors={"webhook": errors},
        values={"webhook": {"url": url, "events": ",".join(events)}},
        status_code=400,
    )


@router.post("/settings/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    await webhooks.delete(ctx_of(request), user, webhook_id)
    return redirect("/settings?notice=webhook-deleted#webhooks")


@router.get("/settings/webhooks/{webhook_id}")
async def deliveries_page(request: Request, webhook_id: str, offset: Offset = 0) -> Response:
    user = await require_user(request)
    ctx = ctx_of(request)
    page = await webhooks.list_deliveries(ctx, user, webhook_id, DELIVERIES_PAGE, offset)
    hook = next((h for h in await webhooks.list_webhooks(ctx, user) if h["id"] == webhook_id), None)
    if hook is None:  # deleted between the two reads
        raise NotFound(f"Webhook '{webhook_id[:64]}' not found")
    context = {**page, "webhook": hook, "page_size": DELIVERIES_PAGE}
    return await render(request, "webhook_deliveries.html", context)


@router.post("/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/resend")
async def resend_delivery(request: Request, webhook_id: str, delivery_id: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    try:
        await webhooks.resend(ctx_of(request), user, webhook_id, delivery_id)
    except Conflict:
        return redirect(f"/settings/webhooks/{webhook_id}?notice=delivery-pending")
    return redirect(f"/settings/webhooks/{webhook_id}?notice=delivery-resent")
