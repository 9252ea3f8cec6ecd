"""/, /register, /login and /logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from harvestgpu.server.errors import Conflict, TooManyRequests, Unauthorized
from harvestgpu.server.ratelimit import client_address, limiter_of
from harvestgpu.server.schemas import LoginRequest, RegisterRequest
from harvestgpu.server.services import accounts
from harvestgpu.server.web.forms import FORM_ERROR, optional_text, read_form, validate
from harvestgpu.server.web.rendering import WebRoute, redirect, render, safe_next
from harvestgpu.server.web.session import (
    ctx_of,
    end_session,
    session_for_token,
    session_user,
    start_session,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)
NextParam = Annotated[str | None, Query(alias="next", max_length=500)]


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/dashboard" if await session_user(request) else "/login")


@router.get("/register")
async def register_form(request: Request) -> Response:
    if await session_user(request):
        return redirect("/dashboard")
    return await render(request, "register.html", {"values": {}, "errors": {}})


@router.post("/register")
async def register(request: Request) -> Response:
    fields = await read_form(request)
    values = {
        "email": (fields.get("email") or "").strip(),
        "password": fields.get("password") or "",
        "company": optional_text(fields.get("company")),
    }
    form, errors = validate(RegisterRequest, values)
    refusal: TooManyRequests | None = None
    if form is not None:
        try:
            await limiter_of(request).check_address("register", client_address(request))
            created = await accounts.register(ctx_of(request), form.email, form.password, form.company)
        except TooManyRequests as exc:
            refusal, errors = exc, {FORM_ERROR: exc.message + "."}
        except Conflict as exc:
            errors = {"email": exc.message + "."}
        else:
            # Rendered straight from the POST, never stored: the key is shown exactly once.
            response = await render(
                request,
                "api_key_once.html",
                {"api_key": created["api_key"], "email": created["email"]},
                session=await session_for_token(request, created["token"]),
            )
            start_session(response, request, created["token"])
            return response
    shown = {"email": values["email"], "company": values["company"] or ""}
    page = await render(request, "register.html", {"values": shown, "errors": errors}, status_code=400)
    return _refused(page, refusal)


@router.get("/login")
async def login_form(request: Request, next_url: NextParam = None) -> Response:
    if await session_user(request):
        return redirect(safe_next(next_url))
    return await render(request, "login.html", {"values": {}, "errors": {}, "next_url": safe_next(next_url)})


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await read_form(request)
    next_url = safe_next(fields.get("next"))
    values = {"email": (fields.get("email") or "").strip(), "password": fields.get("password") or ""}
    form, errors = validate(LoginRequest, values)
    refusal: TooManyRequests | None = None
    if form is not None:
        try:
            await limiter_of(request).check_address("login", client_address(request))
            session = await accounts.login(ctx_of(request), form.email, form.password)
        except TooManyRequests as exc:
            refusal, errors = exc, {FORM_ERROR: exc.message + "."}
        except Unauthorized as exc:
            errors = {"password": exc.message + "."}
        else:
            response = redirect(next_url)
            start_session(response, request, session["token"])
            return response
    context = {"values": {"email": values["email"]}, "errors": errors, "next_url": next_url}
    return _refused(await render(request, "login.html", context, status_code=400), refusal)


def _refused(page: Response, refusal: TooManyRequests | None) -> Response:
    """The form page again; as a 429 with Retry-After when the address ran out of attempts."""
    if refusal is not None:
        page.status_code = 429
        page.headers.update(refusal.headers)
    return page


@router.get("/logout")
async def logout_confirm(request: Request) -> Response:
    if not await session_user(request):
        return redirect("/login")
    return await render(request, "logout.html")


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    user = await session_user(request)
    if user is not None:  # the cookie alone is not enough: a copied one must stop working too
        await accounts.sign_out(ctx_of(request), user.id)
    response = redirect("/login?signed_out=1")
    end_session(response, request)
    return response
