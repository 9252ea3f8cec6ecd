from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from harvestgpu.server.api.deps import Ctx, User, ok
from harvestgpu.server.ratelimit import client_address, limiter_of
from harvestgpu.server.schemas import ApiKeyCreateRequest, LoginRequest, RegisterRequest
from harvestgpu.server.services import accounts

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/register", status_code=201, summary="Create an account and get an API key")
async def register(body: RegisterRequest, ctx: Ctx, request: Request) -> JSONResponse:
    await limiter_of(request).check_address("register", client_address(request))
    return ok(await accounts.register(ctx, body.email, body.password, body.company), 201)


@router.post("/login", summary="Log in and get a JWT")
async def login(body: LoginRequest, ctx: Ctx, request: Request) -> JSONResponse:
    await limiter_of(request).check_address("login", client_address(request))
    return ok(await accounts.login(ctx, body.email, body.password))


@router.post("/logout", summary="End every login token (JWT) and browser session of your account")
async def logout(user: User, ctx: Ctx) -> JSONResponse:
    await accounts.sign_out(ctx, user.id)
    return ok({"signed_out": True})


@router.get("/me", summary="Current user, plan, usage this month and active jobs")
async def me(user: User, ctx: Ctx) -> JSONResponse:
    return ok(await accounts.me(ctx, user))


@router.post("/keys", status_code=201, summary="Create another API key (shown once)")
async def create_key(user: User, ctx: Ctx, body: ApiKeyCreateRequest | None = None) -> JSONResponse:
    name = body.name if body else "api key"
    return ok(await accounts.create_api_key(ctx, user, name), 201)


@router.get("/keys", summary="List API keys (prefix and last use only)")
async def list_keys(user: User, ctx: Ctx) -> JSONResponse:
    return ok({"keys": await accounts.list_api_keys(ctx, user)})


@router.delete("/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(key_id: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await accounts.revoke_api_key(ctx, user, key_id))
