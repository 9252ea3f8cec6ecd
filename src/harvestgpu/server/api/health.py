from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from harvestgpu.server.api.deps import Ctx, ok
from harvestgpu.server.metrics_server import metrics_response

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> JSONResponse:
    return ok({"alive": True})


@router.get("/readyz", summary="Readiness: the database answers")
async def readyz(ctx: Ctx) -> JSONResponse:
    try:
        async with ctx.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "error", "error": "database unavailable"}, status_code=503)
    return ok({"ready": True})


@router.get(
    "/metrics",
    summary="Prometheus metrics (needs Bearer HARVESTGPU_METRICS_TOKEN when that is set)",
    response_class=Response,
)
async def prometheus_metrics(ctx: Ctx, request: Request) -> Response:
    return await metrics_response(ctx, request.headers.get("authorization", ""))
