"""Shared router helpers: the caller's identity and the success envelope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from harvestgpu.server.app import ctx_of
from harvestgpu.server.context import AppContext
from harvestgpu.server.services import accounts
from harvestgpu.server.services.accounts import AuthUser

# Declared for the OpenAPI document ("Authorize" in /docs); parsing is done below.
_bearer = HTTPBearer(auto_error=False, description="API key (hg_live_...) or JWT from /auth/login")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _token(request: Request) -> str:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        return ""
    return (request.headers.get("x-api-key") or "").strip()


async def current_user(
    request: Request,
    _b: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    _k: Annotated[str | None, Depends(_api_key_header)] = None,
) -> AuthUser:
    return await accounts.authenticate(ctx_of(request), _token(request))


async def optional_user(request: Request) -> AuthUser | None:
    token = _token(request)
    if not token:
        return None
    return await accounts.authenticate(ctx_of(request), token)


def get_ctx(request: Request) -> AppContext:
    return ctx_of(request)


User = Annotated[AuthUser, Depends(current_user)]
MaybeUser = Annotated[AuthUser | None, Depends(optional_user)]
Ctx = Annotated[AppContext, Depends(get_ctx)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"status": "ok", "data": _jsonable(data)}, status_code=status_code)
