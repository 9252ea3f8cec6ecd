"""Raw HTTP + JSON for Lambda Cloud's v1 API.

Owns the auth header, the per-call deadline, the ``{"data": ...}`` / ``{"error": {...}}``
envelopes, the classification of failures into the provider error tree and 429 handling.
Nothing here knows about offers or instances.

429s (lambda-tensordock.md 1.12): Lambda allows about one request per second and one launch
per 12 s; whether a 429 carries ``Retry-After`` is UNCONFIRMED. A repeatable call is retried
in-process after a short wait (the header's, else 1 s then 2 s) while the waits stay within
``RATE_LIMIT_BUDGET_S`` and the whole call, waits included, within its ``timeout_s``. Otherwise
it raises ``RateLimitedError`` whose ``retry_after`` is the header's value or, without one,
``LAUNCH_RETRY_AFTER_S`` for a launch and ``RETRY_AFTER_S`` for anything else; the job engine
then reschedules the step instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harvestgpu.http_headers import parse_retry_after
from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
    RateLimitedError,
    header_safe_key,
    redact,
)

PROVIDER = "lambda"
API_PREFIX = "/api/v1"

LAUNCH_PATH = "/instance-operations/launch"

# What a 429 without Retry-After reports: Lambda's launch limit is one per 12 s, and
# skypilot backs off Lambda's 429s from 10 s.
LAUNCH_RETRY_AFTER_S = 12.0
RETRY_AFTER_S = 10.0
# In-process retries of repeatable calls: at most two, at most this long asleep in all.
RATE_LIMIT_RETRIES = 2
RATE_LIMIT_BUDGET_S = 5.0
# Waits between them without Retry-After (the general limit is about one request a second).
RATE_LIMIT_BACKOFF_S = (1.0, 2.0)
# A retry is only worth it if this much of the call's deadline is left after the wait.
_MIN_ATTEMPT_S = 1.0

_MAX_ECHOED_BODY = 200

# The account exists and the key works, but billing blocks launches: stop using this account.
_BILLING_CODES = frozenset({"global/account-inactive", "global/invalid-address", "global/quota-exceeded"})
_TRANSIENT_CODES = frozenset({"global/internal-error", "global/unknown"})


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class LambdaNotFoundError(ProviderBadRequestError):
    """``global/object-does-not-exist`` (HTTP 404): an unknown instance, SSH key or image."""


class LambdaDuplicateError(ProviderBadRequestError):
    """``global/duplicate``: the name is taken (status 409 is UNCONFIRMED, the code is not)."""


@dataclass(frozen=True, slots=True)
class LambdaApiError:
    """The parts of an error body we act on; ``code`` is the only stable field."""

    code: str
    message: str
    suggestion: str = ""
    field_errors: tuple[str, ...] = ()

    def describe(self, *secrets: str | None) -> str:
        text = self.message or "request failed"
        if self.code:
            text = f"{text} [{self.code}]"
        if self.field_errors:
            text = f"{text} ({'; '.join(self.field_errors)})"
        if self.suggestion:
            text = f"{text} {self.suggestion}"
        return redact(text, *secrets)


def parse_error_body(status: int, body: str) -> LambdaApiError:
    """Read ``{"error": {code, message, suggestion?}, "field_errors"?: {...}}``, or any text."""
    try:
        payload: Any = json.loads(body) if body else None
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        echoed = " ".join(body.split())[:_MAX_ECHOED_BODY]
        return LambdaApiError(code="", message=f"HTTP {status}" + (f": {echoed}" if echoed else ""))
    field_errors: list[str] = []
    raw_fields = payload.get("field_errors")
    if isinstance(raw_fields, dict):
        for field_name, detail in raw_fields.items():
            detail_text = detail.get("message") if isinstance(detail, dict) else detail
            field_errors.append(f"{field_name}: {detail_text}")
    return LambdaApiError(
        code=str(error.get("code") or ""),
        message=str(error.get("message") or f"HTTP {status}"),
        suggestion=str(error.get("suggestion") or ""),
        field_errors=tuple(field_errors),
    )


def classify_error(
    status: int, error: LambdaApiError, *, api_key: str, retry_after: float | None = None
) -> ProviderError:
    """Map an HTTP status and Lambda error code onto the provider error tree."""
    text = error.describe(api_key)
    code = error.code
    if status == 401 or code == "global/invalid-api-key":
        return ProviderAuthError(PROVIDER, text, status=status)
    if code in _BILLING_CODES:
        return QuotaError(PROVIDER, text, status=status)
    if "insufficient-capacity" in code:
        return NoCapacityError(PROVIDER, text, status=status)
    if status == 403:
        return ProviderAuthError(PROVIDER, text, status=status)
    if status == 404 or code == "global/object-does-not-exist":
        return LambdaNotFoundError(PROVIDER, text, status=status)
    if status == 409 or code == "global/duplicate":
        return LambdaDuplicateError(PROVIDER, text, status=status)
    if status == 429:
        return RateLimitedError(PROVIDER, text, status=status, retry_after=retry_after)
    # provider/* codes come from Lambda's upstream providers ("Provider unavailable, try again").
    if status >= 500 or status == 408 or code in _TRANSIENT_CODES or code.startswith("provider/"):
        return ProviderTransientError(PROVIDER, text, status=status, retry_after=retry_after)
    return ProviderBadRequestError(PROVIDER, text, status=status)


class LambdaClient:
    """One Lambda account's HTTP session on top of the shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        api_key: str,
        http: httpx.AsyncClient,
        base_url: str,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ):
        self._api_key = api_key
        self._http = http
        self.base_url = base_url.rstrip("/")
        # Replaceable so tests can see how long a 429 asked us to wait without waiting.
        self.sleep = sleep
        self.clock = clock

    def __repr__(self) -> str:  # never show the key
        return f"<LambdaClient {self.base_url}>"

    async def get(self, path: str, *, timeout_s: float) -> Any:
        return await self._call("GET", path, None, timeout_s=timeout_s, retry_rate_limit=True)

    async def post(
        self, path: str, body: Mapping[str, Any], *, timeout_s: float, retry_rate_limit: bool
    ) -> Any:
        """POST; ``retry_rate_limit`` only for calls that are harmless to repeat."""
        return await self._call("POST", path, body, timeout_s=timeout_s, retry_rate_limit=retry_rate_limit)

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        timeout_s: float,
        retry_rate_limit: bool,
    ) -> Any:
        deadline = self.clock() + timeout_s
        waited = 0.0
        attempt = 0
        while True:
            response = await self._send(method, path, body, timeout_s=timeout_s, deadline=deadline)
            if response.status_code != 429:
                return self._unwrap(method, path, response)
            header = parse_retry_after(response.headers.get("Retry-After"))
            wait = (
                header
                if header is not None
                else RATE_LIMIT_BACKOFF_S[min(attempt, len(RATE_LIMIT_BACKOFF_S) - 1)]
            )
            fits = waited + wait <= RATE_LIMIT_BUDGET_S and self.clock() + wait + _MIN_ATTEMPT_S <= deadline
            if retry_rate_limit and attempt < RATE_LIMIT_RETRIES and fits:
                await self.sleep(wait)
                waited += wait
                attempt += 1
                continue
            retry_after = header
            if retry_after is None:
                retry_after = LAUNCH_RETRY_AFTER_S if path == LAUNCH_PATH else RETRY_AFTER_S
            raise RateLimitedError(
                PROVIDER,
                f"{method} {path} was rate limited (HTTP 429); retry in {retry_after:g} s",
                status=429,
                retry_after=retry_after,
            )

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, *, timeout_s: float, deadline: float
    ) -> httpx.Response:
        # Checked before httpx sees it: httpx echoes an illegal header value in its exceptions.
        key = header_safe_key(PROVIDER, f"{method} {path}", self._api_key)
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        remaining = max(deadline - self.clock(), 0.0)
        try:
            # httpx timeouts are per phase; the outer deadline bounds the whole exchange.
            async with asyncio.timeout(remaining):
                return await self._http.request(
                    method,
                    self.base_url + API_PREFIX + path,
                    json=body,
                    headers=headers,
                    timeout=remaining,
                )
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderTransientError(
                PROVIDER, f"{method} {path} got no answer within {timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise ProviderTransientError(PROVIDER, f"{method} {path} failed: {type(exc).__name__}") from None

    def _unwrap(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.is_success:
            error = parse_error_body(response.status_code, response.text)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            # The header carried the stripped key: that is the spelling a server could echo.
            api_key = self._api_key.strip()
            raise classify_error(response.status_code, error, api_key=api_key, retry_after=retry_after)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "data" not in payload:
            # A success without the envelope is a proxy or maintenance page, not Lambda's API.
            raise ProviderTransientError(
                PROVIDER,
                f"{method} {path} answered HTTP {response.status_code} without a data envelope",
                status=response.status_code,
            )
        return payload["data"]
