"""Browser sessions: a JWT in an HttpOnly cookie, and CSRF tokens bound to it.

The session cookie holds a JWT from ``MasterKey.issue_jwt`` (already signed and expiring), so
the server keeps no session table; signing out sets the account's ``tokens_valid_after``
(``accounts.sign_out``), so a copied cookie stops working too. Every form carries a CSRF
token derived by HMAC from the cookie it is bound to: the session JWT once logged in, or a
random anonymous nonce before that (so the login and register forms are protected too). A
token from one session is worthless in another, and a cross-site page can read neither cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from harvestgpu.server.context import AppContext
from harvestgpu.server.errors import Unauthorized
from harvestgpu.server.services import accounts
from harvestgpu.server.services.accounts import AuthUser

SESSION_COOKIE = "hg_session"
ANON_COOKIE = "hg_anon"
CSRF_FIELD = "csrf_token"
ANON_MAX_AGE_S = 7 * 24 * 3600


class LoginRequired(Exception):
    """The page needs a signed-in user; the web routes answer with a redirect to /login."""


class CsrfRejected(Exception):
    """A state-changing request came without the token of the caller's session."""


@dataclass(frozen=True, slots=True)
class Session:
    """Who is asking and the CSRF token their forms must carry."""

    user: AuthUser | None
    csrf_token: str
    # A fresh anonymous nonce that still has to be set as a cookie on the response.
    new_anon_nonce: str | None = None


def ctx_of(request: Request) -> AppContext:
    ctx = request.app.state.ctx
    if not isinstance(ctx, AppContext):
        raise RuntimeError("the app context is not ready")
    return ctx


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _csrf_key(ctx: AppContext) -> bytes:
    return hmac.new(ctx.master.jwt_key, b"harvestgpu/web-csrf/v1", hashlib.sha256).digest()


def csrf_token_for(ctx: AppContext, binding: str) -> str:
    return hmac.new(_csrf_key(ctx), binding.encode(), hashlib.sha256).hexdigest()


async def session_user(request: Request) -> AuthUser | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return await accounts.authenticate(ctx_of(request), token)
    except Unauthorized:
        return None


async def load_session(request: Request) -> Session:
    ctx = ctx_of(request)
    user = await session_user(request)
    if user is not None:
        return Session(user, csrf_token_for(ctx, "session:" + request.cookies[SESSION_COOKIE]))
    nonce = request.cookies.get(ANON_COOKIE)
    fresh = None
    if not nonce:
        nonce = fresh = secrets.token_urlsafe(24)
    return Session(None, csrf_token_for(ctx, "anon:" + nonce), new_anon_nonce=fresh)


async def session_for_token(request: Request, token: str) -> Session:
    """The session a just-issued token starts, for rendering the page that sets its cookie."""
    ctx = ctx_of(request)
    user = await accounts.authenticate(ctx, token)
    return Session(user, csrf_token_for(ctx, "session:" + token))


async def require_user(request: Request) -> AuthUser:
    user = await session_user(request)
    if user is None:
        raise LoginRequired
    return user


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise CsrfRejected unless ``submitted`` is the token of the cookie this request carries."""
    ctx = ctx_of(request)
    session_cookie = request.cookies.get(SESSION_COOKIE)
    anon_cookie = request.cookies.get(ANON_COOKIE)
    expected = []
    if session_cookie:
        expected.append(csrf_token_for(ctx, "session:" + session_cookie))
    if anon_cookie:
        expected.append(csrf_token_for(ctx, "anon:" + anon_cookie))
    given = submitted or ""
    if not given or not any(hmac.compare_digest(given, token) for token in expected):
        raise CsrfRejected


def remember_anon_nonce(response: Response, request: Request, session: Session) -> None:
    if session.new_anon_nonce is not None:
        response.set_cookie(
            ANON_COOKIE,
            session.new_anon_nonce,
            max_age=ANON_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )


def start_session(response: Response, request: Request, token: str) -> None:
    ttl_s = int(ctx_of(request).settings.jwt_ttl_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl_s,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
