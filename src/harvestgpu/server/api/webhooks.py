from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from harvestgpu.server.api.deps import Ctx, User, ok
from harvestgpu.server.services import webhooks

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class WebhookCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
    url: str = Field(min_length=1, max_length=2000)
    # "job.completed,job.failed" (as in SPEC) or a list; omitted = every event.
    events: str | list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=1000)


@router.get("", summary="List your webhooks")
async def list_webhooks(user: User, ctx: Ctx) -> JSONResponse:
    return ok({"webhooks": await webhooks.list_webhooks(ctx, user)})


@router.post("", status_code=201, summary="Create a webhook; its signing secret is shown only in this answer")
async def create_webhook(body: WebhookCreateRequest, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await webhooks.create(ctx, user, body.url, body.events), 201)


@router.delete("/{webhook_id}", summary="Delete a webhook (pending deliveries are dropped)")
async def delete_webhook(webhook_id: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await webhooks.delete(ctx, user, webhook_id))


@router.get("/{webhook_id}/deliveries", summary="Deliveries of a webhook, newest first")
async def list_deliveries(
    webhook_id: str,
    user: User,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    return ok(await webhooks.list_deliveries(ctx, user, webhook_id, limit, offset))


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=201,
    summary="Send a delivery's event again (same event id and body) as a new delivery",
)
async def resend_delivery(webhook_id: str, delivery_id: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await webhooks.resend(ctx, user, webhook_id, delivery_id), 201)
