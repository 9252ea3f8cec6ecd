"""Serving /metrics: the API's route and the small listener of a `harvestgpu worker` process."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harvestgpu.server.context import AppContext
from harvestgpu.server.metrics import CONTENT_TYPE


async def metrics_response(ctx: AppContext, authorization: str) -> Response:
    token = ctx.settings.metrics_token
    if token and not _authorized(authorization, token):
        return JSONResponse(
            {"status": "error", "error": "Metrics need the Bearer token set in HARVESTGPU_METRICS_TOKEN"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(await ctx.metrics.render(ctx.db), media_type=CONTENT_TYPE)


def _authorized(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


class _QuietServer(uvicorn.Server):
    # The worker process owns SIGINT/SIGTERM and stops this server itself.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_worker_metrics(ctx: AppContext, port: int, stopping: asyncio.Event) -> None:
    async def endpoint(request: Request) -> Response:
        return await metrics_response(ctx, request.headers.get("authorization", ""))

    app = Starlette(routes=[Route("/metrics", endpoint)])
    config = uvicorn.Config(app, host=ctx.settings.host, port=port, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop.cancel()
    await serving
