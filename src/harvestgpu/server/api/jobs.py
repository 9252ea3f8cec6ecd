from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server.api.deps import Ctx, User, current_user, ok
from harvestgpu.server.app import ctx_of
from harvestgpu.server.context import AppContext
from harvestgpu.server.metrics import LabelledRoute
from harvestgpu.server.ratelimit import limiter_of
from harvestgpu.server.schemas import JobSubmitRequest
from harvestgpu.server.services import jobs as job_service
from harvestgpu.server.services.accounts import AuthUser

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
StatusFilter = Literal["queued", "running", "completed", "failed", "stopped"]
FOLLOW_POLL_S = 0.5
KEEPALIVE_S = 15.0


@router.post("", status_code=201, summary="Submit a GPU job; routed to the best offer for its priority")
async def submit(
    body: JobSubmitRequest,
    user: User,
    ctx: Ctx,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    job, created = await job_service.submit_within_plan(ctx, limiter_of(request), user, body, idempotency_key)
    return ok(job, 201 if created else 200)


@router.get("", summary="List your jobs, newest first")
async def list_jobs(
    user: User,
    ctx: Ctx,
    status: StatusFilter | None = None,
    gpu: Annotated[str | None, Query(max_length=64)] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    return ok(
        await job_service.list_jobs(
            ctx, user, status=status, gpu=gpu, provider=provider, limit=limit, offset=offset
        )
    )


@router.get("/{job_id}", summary="One job, with its routing trace")
async def get_job(job_id: str, request: Request) -> JSONResponse:
    user = await current_user(request)
    return ok(await job_service.get(ctx_of(request), user, job_id))


async def get_job_fast(request: Request) -> JSONResponse:
    """GET /api/v1/jobs/{job_id} as a plain Starlette route, matched before FastAPI's.

    The API's hottest read (clients poll it). FastAPI's per-route machinery (parameter solving,
    dependency resolution) cost more than the authentication and the job read themselves
    (bench/bench_api.py); the FastAPI route above documents it in OpenAPI and serves the same.
    """
    return await get_job(request.path_params["job_id"], request)


hot_routes = [LabelledRoute("/api/v1/jobs/{job_id}", get_job_fast, methods=["GET"])]


@router.post("/{job_id}/stop", summary="Stop a job; compute used so far is charged")
async def stop_job(job_id: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await job_service.stop(ctx, user, job_id))


@router.get(
    "/{job_id}/logs",
    response_model=None,
    summary="Job logs; ?follow=true (or Accept: text/event-stream) streams them live",
)
async def job_logs(
    job_id: str,
    request: Request,
    user: User,
    ctx: Ctx,
    follow: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse | StreamingResponse:
    wants_stream = follow or "text/event-stream" in request.headers.get("accept", "")
    if not wants_stream:
        return ok(await job_service.logs(ctx, user, job_id, offset))
    await job_service.get_row(ctx, user, job_id)  # 404 before the stream starts
    return StreamingResponse(
        _follow(ctx, user, job_id, offset, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _follow(
    ctx: AppContext, user: AuthUser, job_id: str, offset: int, request: Request
) -> AsyncIterator[str]:
    last_sent = time.monotonic()
    while True:
        lines = await job_service.log_lines(ctx, job_id, offset, limit=1000)
        for line in lines:
            yield _event("log", {"offset": offset, "line": line})
            offset += 1
        if lines:
            last_sent = time.monotonic()
            continue
        job = await job_service.get_row(ctx, user, job_id)
        if job["status"] in TERMINAL_STATUSES and job["phase"] in ("terminate", "done"):
            # Lines fetched in the engine's final step are written with the status change.
            rest = await job_service.log_lines(ctx, job_id, offset, limit=100_000)
            for line in rest:
                yield _event("log", {"offset": offset, "line": line})
                offset += 1
            yield _event("end", {"status": job["status"], "exit_code": job["exit_code"]})
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent > KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(FOLLOW_POLL_S)
