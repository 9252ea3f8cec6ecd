from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from harvestgpu.models.jobs import MAX_MONTHLY_LIMIT
from harvestgpu.server.api.deps import Ctx, User, ok
from harvestgpu.server.services import budgets, usage

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class SpendLimitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # USD per calendar month (UTC); null removes the limit.
    monthly_limit: float | None = Field(gt=0, le=MAX_MONTHLY_LIMIT)


@router.get("/usage", summary="This calendar month (UTC): totals, daily breakdown, split by provider and GPU")
async def current_usage(user: User, ctx: Ctx) -> JSONResponse:
    return ok(await usage.current_usage(ctx, user.id))


@router.get("/history", summary="Usage records of ended jobs (newest first) and totals per month")
async def history(
    user: User,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    return ok(await usage.history(ctx, user.id, limit, offset))


@router.get("/limit", summary="Your monthly spend limit and what is left of it")
async def get_limit(user: User, ctx: Ctx) -> JSONResponse:
    return ok(await budgets.limit_out(ctx, user))


@router.put("/limit", summary="Set (or with null remove) your monthly spend limit")
async def put_limit(body: SpendLimitRequest, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await budgets.set_limit(ctx, user, body.monthly_limit))
