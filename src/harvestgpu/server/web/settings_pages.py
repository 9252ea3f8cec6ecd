"""/settings: this month's usage, provider keys (add, test, remove), HarvestGPU API keys
(create, revoke) and webhooks (webhook_pages.py).

Every change is a plain form POST followed by a redirect back to the section, except creating
an API key or a webhook: that answer renders the new secret once and is never stored. Those two
forms carry a per-form submit token (once.py): reloading that answer, or a second click, creates
nothing and redirects to the list with a notice. A GET on a form's action URL goes to its section.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from harvestgpu.providers import registry
from harvestgpu.server.errors import NotFound
from harvestgpu.server.schemas import ApiKeyCreateRequest, ProviderKeyRequest
from harvestgpu.server.services import accounts, provider_keys, usage, webhooks
from harvestgpu.server.services.accounts import AuthUser
from harvestgpu.server.web import once
from harvestgpu.server.web.charts import usage_chart
from harvestgpu.server.web.forms import optional_text, read_form, validate
from harvestgpu.server.web.rendering import WebRoute, redirect, render
from harvestgpu.server.web.session import ctx_of, require_user

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _provider_choices() -> list[dict[str, str]]:
    return [
        {
            "slug": slug,
            "name": registry.provider_info(slug).name,
            "key_url": registry.provider_info(slug).key_url,
        }
        for slug in registry.REAL_PROVIDERS
    ]


async def render_settings(
    request: Request,
    user: AuthUser,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    new_api_key: dict[str, Any] | None = None,
    new_webhook: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The whole settings page; ``errors``/``values`` are keyed by form name, then field."""
    ctx = ctx_of(request)
    month = await usage.current_usage(ctx, user.id)
    context: dict[str, Any] = {
        "usage": month,
        "usage_chart": usage_chart(month["period"], month["daily"]),
        "provider_keys": await provider_keys.list_public(ctx, user),
        "provider_choices": _provider_choices(),
        "api_keys": await accounts.list_api_keys(ctx, user),
        "new_api_key": new_api_key,
        "webhooks": await webhooks.list_webhooks(ctx, user),
        "webhook_events": webhooks.EVENTS,
        "new_webhook": new_webhook,
        "errors": errors or {},
        "values": values or {},
        # A fresh token per rendered create form: the same form cannot create twice.
        "api_key_token": once.new_token(),
        "webhook_token": once.new_token(),
        # Answers to a POST show /settings in the address bar (app.js), not the form's action.
        "canonical_url": "/settings" if request.method == "POST" else None,
    }
    return await render(request, "settings.html", context, status_code=status_code)


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    return await render_settings(request, await require_user(request))


@router.get("/settings/provider-keys")
async def provider_keys_section() -> Response:
    return redirect("/settings#provider-keys")


@router.get("/settings/api-keys")
async def api_keys_section() -> Response:
    return redirect("/settings#api-keys")


@router.post("/settings/provider-keys")
async def add_provider_key(request: Request) -> Response:
    user = await require_user(request)
    fields = await read_form(request)
    provider = (fields.get("provider") or "").strip()
    label = optional_text(fields.get("label"))
    values = {"provider": provider, "api_key": (fields.get("api_key") or "").strip(), "label": label}
    form, errors = validate(ProviderKeyRequest, values)
    if form is None:
        # The key itself is never sent back to the browser, not even to refill the form.
        shown = {"provider": provider, "label": label or ""}
        return await render_settings(
            request, user, errors={"provider_key": errors}, values={"provider_key": shown}, status_code=400
        )
    # A blank label on a replaced key keeps the one it had, as the API does when none is sent.
    await provider_keys.upsert(
        ctx_of(request), user, form.provider, form.api_key, form.label, keep_label=form.label is None
    )
    return redirect("/settings?notice=provider-key-saved#provider-keys")


@router.post("/settings/provider-keys/{provider}/test")
async def test_provider_key(request: Request, provider: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    await provider_keys.test(ctx_of(request), user, _known_provider(provider))
    return redirect("/settings?notice=provider-key-tested#provider-keys")


@router.post("/settings/provider-keys/{provider}/delete")
async def delete_provider_key(request: Request, provider: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    await provider_keys.delete(ctx_of(request), user, _known_provider(provider))
    return redirect("/settings?notice=provider-key-removed#provider-keys")


def _known_provider(provider: str) -> str:
    if provider not in registry.REAL_PROVIDERS:
        raise NotFound(f"Unknown provider '{provider[:32]}'")
    return provider


@router.post("/settings/api-keys")
async def create_api_key(request: Request) -> Response:
    user = await require_user(request)
    fields = await read_form(request)
    form, errors = validate(ApiKeyCreateRequest, {"name": optional_text(fields.get("name"))})
    if form is None:
        return await render_settings(
            request,
            user,
            errors={"api_key": errors},
            values={"api_key": {"name": fields.get("name", "")}},
            status_code=400,
        )
    if not once.claim(request, user.id, "api_key", fields.get(once.SUBMIT_FIELD)):
        return redirect("/settings?notice=api-key-already-created#api-keys")
    created = await accounts.create_api_key(ctx_of(request), user, form.name)
    return await render_settings(request, user, new_api_key=created)


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    await accounts.revoke_api_key(ctx_of(request), user, key_id)
    return redirect("/settings?notice=api-key-revoked#api-keys")
