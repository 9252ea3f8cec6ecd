"""Templates, their filters, security headers, and the route class that turns page errors into pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from harvestgpu import __version__
from harvestgpu.models.jobs import TERMINAL_STATUSES
from harvestgpu.server.errors import ApiError
from harvestgpu.server.web.forms import error_message
from harvestgpu.server.web.session import (
    CsrfRejected,
    LoginRequired,
    Session,
    load_session,
    remember_anon_nonce,
)

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

# htmx needs no eval here and its indicator styles live in app.css, so scripts and styles can be
# limited to our own origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Messages shown after a redirect (?notice=<code>): fixed texts, so a link cannot inject any.
NOTICES = {
    "submitted": "Job submitted. It is being placed on the cheapest matching offer.",
    "stopped": "Job stopped. Compute used until now is charged by your provider.",
    "already-ended": "This job had already ended; there was nothing to stop.",
    "provider-key-saved": "Provider key saved. Use Test to check it against the provider.",
    "provider-key-tested": "Provider key tested; the result is shown next to the key.",
    "provider-key-removed": "Provider key removed.",
    "api-key-revoked": "API key revoked. Requests using it are refused from now on.",
    "webhook-deleted": "Webhook deleted. Its pending deliveries will not be sent.",
    "delivery-resent": "Delivery queued again with the same event id and body.",
    "delivery-pending": "That event is still being delivered; resend it once that delivery has finished.",
    "api-key-already-created": (
        "That form was already sent, so no second key was created. The key it made is listed below; "
        "its secret was shown only once — if you did not copy it, revoke it and create a new one."
    ),
    "webhook-already-created": (
        "That form was already sent, so no second webhook was created. The webhook it made is listed "
        "below; its signing secret was shown only once — if you did not copy it, delete it and add it again."
    ),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def money(value: float | None, per_hour: bool = False) -> str:
    if value is None:
        return "—"
    text = f"${value:,.2f}" if value >= 1 or value == 0 or per_hour else f"${value:,.4f}"
    return text + ("/h" if per_hour else "")


def _parse_time(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def when(value: datetime | str | None) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def runtime(job: Mapping[str, Any]) -> str:
    started = _parse_time(job.get("started_at"))
    if started is None:
        return "—"
    ended = _parse_time(job.get("ended_at")) or datetime.now(UTC)
    return duration((ended - started).total_seconds())


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES


templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.filters["money"] = money
templates.env.filters["when"] = when
templates.env.filters["runtime"] = runtime
templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
templates.env.tests["terminal"] = is_terminal
templates.env.globals["asset_version"] = __version__


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def with_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    """Render ``template`` with the caller's user, CSRF token and the current path."""
    session = session or await load_session(request)
    values: dict[str, Any] = {
        "user": session.user,
        "csrf_token": session.csrf_token,
        "path": request.url.path,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
    }
    values.update(context or {})
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    remember_anon_nonce(response, request, session)
    with_security_headers(response)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Only same-site paths: ``//evil.example`` and absolute URLs would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard"
    return target


def _htmx_page(request: Request) -> str:
    """The page an htmx request came from (HX-Current-URL), as a same-site path.

    A fragment URL (/dashboard/jobs?offset=25) is no place to land after logging in; the page
    that polled it is. Another origin's URL, or none, falls back to the dashboard.
    """
    current = urlsplit(request.headers.get("hx-current-url", ""))
    if current.scheme not in ("http", "https") or current.netloc != request.url.netloc:
        return "/dashboard"
    target = current.path + ("?" + current.query if current.query else "")
    return safe_next(target)


def _login_redirect(request: Request) -> Response:
    if is_htmx(request):
        # An XHR would follow a 303 and swap the login page into a fragment; htmx navigates the
        # whole page instead, and after logging in the user is back on the page they were on.
        login_url = "/login?next=" + quote(_htmx_page(request), safe="")
        return Response(status_code=401, headers={"HX-Redirect": login_url})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect("/login?next=" + quote(safe_next(target), safe=""))


async def _error_page(
    request: Request, status: int, title: str, message: str, retry_url: str | None = None
) -> Response:
    context = {"title": title, "message": message, "retry_url": retry_url}
    return await render(request, "error.html", context, status_code=status)


def _bad_address_message(exc: RequestValidationError) -> str:
    """'The address has an invalid count: must be at most 16.' for a hand-edited or stale link."""
    parts = []
    for error in exc.errors()[:3]:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
        name = (loc[-1] if loc else "value")[:32]
        parts.append(f"'{name}': {error_message(error)}")
    return "This address has a value the page cannot use — " + "; ".join(parts)


_ERROR_TITLES = {404: "Not found", 409: "Conflict", 429: "Too many requests", 503: "Unavailable"}


class WebRoute(APIRoute):
    """Dashboard routes answer in HTML (a login redirect, a refused-form page, an error page)
    where the API's handlers would answer with the JSON error envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                return with_security_headers(await handle(request))
            except LoginRequired:
                return _login_redirect(request)
            except CsrfRejected:
                return await _error_page(
                    request,
                    403,
                    "Form refused",
                    "This form was missing its security token or it has expired. "
                    "Reload the page and try again.",
                )
            except RequestValidationError as exc:
                # A page, not the API's JSON envelope; the link offers the page with its defaults.
                return await _error_page(
                    request, 400, "Invalid address", _bad_address_message(exc), retry_url=request.url.path
                )
            except ApiError as exc:
                title = _ERROR_TITLES.get(exc.status, "Request refused")
                page = await _error_page(request, exc.status, title, exc.message)
                page.headers.update(exc.headers)
                return page

        return handle_page
