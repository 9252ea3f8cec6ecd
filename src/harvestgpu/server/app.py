"""create_app(settings): routers, the error envelope, middleware, lifespan (migrations, workers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from harvestgpu.server import openapi
from harvestgpu.server.context import AppContext
from harvestgpu.server.db import run_migrations
from harvestgpu.server.errors import ApiError
from harvestgpu.server.metrics import Metrics, MetricsMiddleware
from harvestgpu.server.middleware import BodyLimitMiddleware, RequestIdMiddleware
from harvestgpu.server.ratelimit import RateLimiter, RateLimitHeadersMiddleware
from harvestgpu.server.settings import Settings

log = logging.getLogger("harvestgpu")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "error", "error": message}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc)
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid value"))
        if kind == "json_invalid":
            return "Request body is not valid JSON"
        if kind == "missing" and not field:
            return "Request body is required (JSON object)"
        if kind == "extra_forbidden":
            parts.append(f"Unknown field '{field}'")
        elif kind == "missing":
            parts.append(f"Field '{field}' is required")
        elif field:
            msg = msg.removeprefix("Value error, ")
            parts.append(f"Field '{field}': {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts) or "Invalid request"


def _needs_auth(req: Request) -> bool:
    from harvestgpu.server.api.deps import current_user

    route = req.scope.get("route")
    dependant = getattr(route, "dependant", None)
    return dependant is not None and any(d.call is current_user for d in dependant.dependencies)


def _body_not_json(req: Request, exc: RequestValidationError) -> bool:
    """A body sent without a JSON content type reaches validation as raw bytes."""
    if "json" in req.headers.get("content-type", ""):
        return False
    return any(tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in exc.errors())


def create_app(settings: Settings | None = None, *, run_workers: bool | None = None) -> FastAPI:
    settings = settings or Settings()
    workers_on = settings.run_workers if run_workers is None else run_workers
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(run_migrations, settings.effective_database_url)
        ctx = AppContext.build(settings, metrics)
        app.state.ctx = ctx
        app.state.rate_limiter = RateLimiter(settings)
        stopping = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if ctx.cache_sync.enabled:
            tasks.append(asyncio.create_task(ctx.cache_sync.run(stopping), name="cache-sync"))
            with contextlib.suppress(TimeoutError):  # Redis down: serve anyway, the TTL bounds it
                await asyncio.wait_for(ctx.cache_sync.ready.wait(), timeout=2)
        if workers_on:
            from harvestgpu.server.workers.runner import start_workers

            tasks += start_workers(ctx, stopping)
        try:
            yield
        finally:
            stopping.set()
            for t in tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(t, timeout=15)
            await app.state.rate_limiter.close()
            await ctx.close()

    app = FastAPI(
        title="HarvestGPU",
        version="0.1.0",
        description="BYOK GPU router: one API for jobs on the cheapest GPU across your own cloud accounts.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI reads the body before it resolves dependencies: answer who-are-you first,
        # so a caller without valid credentials learns that (401), not what is wrong in a
        # body it may not send at all.
        if _needs_auth(req):
            from harvestgpu.server.api.deps import current_user

            await current_user(req)  # raises Unauthorized
        if _body_not_json(req, exc):
            return error_response(400, "Send the request body as JSON with 'Content-Type: application/json'")
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: "Not found", 405: "Method not allowed", 413: "Request body too large"}
        detail = (
            exc.detail
            if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed")
            else None
        )
        headers = dict(exc.headers or {})
        return error_response(
            exc.status_code, detail or messages.get(exc.status_code, "Request failed"), headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", req.method, req.url.path)
        return error_response(500, "Internal server error")

    from harvestgpu.server.api import agent, auth, billing, health, jobs, providers, webhooks

    # Routes are matched in order: the hot job reads come first.
    for module in (jobs, auth, providers, health, agent, billing, webhooks):
        app.include_router(module.router)
    from harvestgpu.server.web import router as dashboard_router

    app.include_router(dashboard_router)
    # Plain Starlette routes for the hottest reads go first (see api/jobs.py get_job_fast).
    app.router.routes[0:0] = jobs.hot_routes
    openapi.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.state.settings = settings
    return app


def ctx_of(request: Request) -> AppContext:
    ctx: Any = request.app.state.ctx
    assert isinstance(ctx, AppContext)
    return ctx
