from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from harvestgpu.server.api.deps import Ctx, MaybeUser, User, ok
from harvestgpu.server.schemas import ProviderKeyRequest
from harvestgpu.server.services import pricing, provider_keys

router = APIRouter(prefix="/api/v1", tags=["providers"])


@router.get("/providers", summary="All providers and whether they can take jobs for you")
async def list_providers(ctx: Ctx, user: MaybeUser) -> JSONResponse:
    return ok({"providers": await pricing.providers_list(ctx, user.id if user else None)})


@router.get("/pricing", summary="Pricing matrix across providers (with auth: your connected accounts)")
async def get_pricing(
    ctx: Ctx, user: MaybeUser, gpu: Annotated[str | None, Query(max_length=64)] = None
) -> JSONResponse:
    return ok(await pricing.pricing(ctx, user.id if user else None, gpu))


@router.post("/providers/keys", summary="Add or replace your key for a provider")
async def add_key(body: ProviderKeyRequest, user: User, ctx: Ctx) -> JSONResponse:
    keep_label = "label" not in body.model_fields_set  # an explicit null clears it
    return ok(
        await provider_keys.upsert(ctx, user, body.provider, body.api_key, body.label, keep_label=keep_label)
    )


@router.get("/providers/keys", summary="Your connected providers (last 4 characters of each key only)")
async def list_keys(user: User, ctx: Ctx) -> JSONResponse:
    return ok({"keys": await provider_keys.list_public(ctx, user)})


@router.delete("/providers/keys/{provider}", summary="Remove a provider key")
async def delete_key(provider: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await provider_keys.delete(ctx, user, provider))


@router.post("/providers/keys/{provider}/test", summary="Check a stored key against the provider's API")
async def test_key(provider: str, user: User, ctx: Ctx) -> JSONResponse:
    return ok(await provider_keys.test(ctx, user, provider))


@router.get("/providers/{slug}/gpus", summary="GPUs a provider offers now (with auth: from your account)")
async def provider_gpus(slug: str, ctx: Ctx, user: MaybeUser) -> JSONResponse:
    return ok(await pricing.provider_gpus(ctx, slug, user.id if user else None))
