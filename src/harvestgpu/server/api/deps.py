"""Shared router helpers: the caller's identity and the success envelope."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from harvestgpu.server.app import ctx_of
from harvestgpu.server.context import AppContext
from harvestgpu.server.ratelimit import limit_request
from harvestgpu.server.services import accounts
from harvestgpu.server.services.accounts import AuthUser


def _token(request: Request) -> str:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        return ""
    return (request.headers.get("x-api-key") or "").strip()


# No security sub-dependencies here: they cost more than the whole lookup on the hot path.
# The OpenAPI document declares the schemes instead (server/openapi.py). Plan rate limits apply
# here, so every authenticated route (the plain Starlette hot routes too) counts against them.
async def current_user(request: Request) -> AuthUser:
    user = await accounts.authenticate(ctx_of(request), _token(request))
    await limit_request(request, user)
    return user


async def optional_user(request: Request) -> AuthUser | None:
    token = _token(request)
    if not token:
        return None
    user = await accounts.authenticate(ctx_of(request), token)
    await limit_request(request, user)
    return user


async def get_ctx(request: Request) -> AppContext:  # async: a sync dependency costs a thread hop
    return ctx_of(request)


User = Annotated[AuthUser, Depends(current_user)]
MaybeUser = Annotated[AuthUser | None, Depends(optional_user)]
Ctx = Annotated[AppContext, Depends(get_ctx)]


def _default(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class EnvelopeResponse(JSONResponse):
    """orjson: datetimes as ISO 8601 UTC with Z, several times faster than json.dumps."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS, default=_default)


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    return EnvelopeResponse({"status": "ok", "data": data}, status_code=status_code)
