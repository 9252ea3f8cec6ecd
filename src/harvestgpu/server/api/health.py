from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from harvestgpu.server.api.deps import Ctx, ok

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
