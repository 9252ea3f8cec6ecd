"""Raw HTTP + JSON for TensorDock's v2 API (https://dashboard.tensordock.com/api/v2).

Everything wire-level lives here: the Bearer header, per-call timeouts, the three error
styles (non-2xx text, non-2xx JSON, and HTTP 200 with ``{"error": ..., "status": 4xx}``),
their classification into the provider error tree, bounded 429 retries, pagination, and
unwrapping the several envelopes TensorDock is known to use for the same object.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from harvestgpu.http_headers import parse_retry_after as retry_after_seconds
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

log = logging.getLogger(__name__)

SLUG = "tensordock"
API_PREFIX = "/api/v2"
# 429 handling for idempotent calls: at most this many retries and this much waiting in total.
MAX_RATE_LIMIT_RETRIES = 2
RATE_LIMIT_WAIT_BUDGET_S = 5.0
# Without a Retry-After header: short backoff per retry.
DEFAULT_BACKOFF_S = (0.5, 1.0)
MAX_PAGES = 100
_MAX_MESSAGE_CHARS = 300

# No error codes are documented, so capacity and balance errors are recognised by wording
# (checked in this order: "Insufficient balance" must not read as a capacity problem).
_BALANCE_WORDS = ("balance", "need at least", "insufficient funds", "credit", "payment", "quota")
_CAPACITY_WORDS = (
    "not enough",
    "no available",
    "not available",
    "unavailable",
    "insufficient",
    "capacity",
    "out of stock",
    "sold out",
    "no gpu",
    "exceeds max",
)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: Any  # parsed JSON, or the text when the body is not JSON

    @property
    def not_found(self) -> bool:
        return self.status == 404


def _text_of(body: Any) -> str:
    if isinstance(body, dict):
        for field in ("error", "message", "detail"):
            value = body.get(field)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                return _text_of(value)
    if isinstance(body, str):
        return body.strip()
    return str(body)


def embedded_error(body: Any) -> tuple[int, str] | None:
    """An error TensorDock sent with HTTP 200: ``{"error": "...", "status": 400}``."""
    if not isinstance(body, dict):
        return None
    raw_status = body.get("status")
    status = raw_status if isinstance(raw_status, int) and not isinstance(raw_status, bool) else 0
    if body.get("error") or status >= 400:
        return (status if status >= 400 else 400), _text_of(body)
    return None


def classify(status: int, message: str, *, retry_after: float | None = None) -> ProviderError:
    """Map a TensorDock failure onto the provider error tree."""
    lowered = message.lower()
    if status in (401, 403):
        return ProviderAuthError(
            SLUG, f"TensorDock rejected the API token (HTTP {status}): {message}", status=status
        )
    if status == 429:
        return RateLimitedError(
            SLUG, f"TensorDock rate limit hit: {message}", status=status, retry_after=retry_after
        )
    if status >= 500:
        return ProviderTransientError(
            SLUG, f"TensorDock server error (HTTP {status}): {message}", status=status
        )
    if status == 402 or any(word in lowered for word in _BALANCE_WORDS):
        return QuotaError(SLUG, f"TensorDock account cannot pay for this: {message}", status=status)
    if any(word in lowered for word in _CAPACITY_WORDS):
        return NoCapacityError(SLUG, f"TensorDock has no capacity for this offer: {message}", status=status)
    return ProviderBadRequestError(
        SLUG, f"TensorDock refused the request (HTTP {status}): {message}", status=status
    )


def unwrap_object(body: Any) -> dict[str, Any] | None:
    """One object from any known envelope: flat, ``{"data": {...}}`` or JSON:API attributes."""
    obj = body.get("data", body) if isinstance(body, dict) else None
    if not isinstance(obj, dict):
        return None
    attributes = obj.get("attributes")
    if isinstance(attributes, dict):
        merged = {k: v for k, v in obj.items() if k != "attributes"}
        merged.update(attributes)
        return merged
    return obj


def instance_records(body: Any) -> list[dict[str, Any]]:
    """Instance records from the list shapes seen in the wild (reference section 2.11).

    (a) ``{"data": {"instances": [...]}}``, (b) ``{"data": {"attributes": {"instances": [...]}}}``,
    (c) ``{"data": [...]}``; items may be flat or carry their fields under ``attributes``.
    Any other body raises: read as "no instances", it would let a launch create a twin.
    """
    data = body.get("data") if isinstance(body, dict) else None
    items: Any = data
    if isinstance(data, dict):
        items = data.get("instances")
        if items is None and isinstance(data.get("attributes"), dict):
            items = data["attributes"].get("instances")
    if not isinstance(items, list):
        raise ProviderTransientError(SLUG, "TensorDock answered the instance list without a list", status=200)
    records = [unwrap_object(item) for item in items]
    return [r for r in records if r is not None]


class TensorDockClient:
    """HTTP calls with the user's token. Never logs or raises anything containing it."""

    def __init__(
        self,
        *,
        api_key: str,
        http: httpx.AsyncClient,
        base_url: str,
        timeout_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._api_key = api_key
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<TensorDockClient {self._base_url}>"

    def url(self, path: str) -> str:
        return f"{self._base_url}{API_PREFIX}{path}"

    async def get(self, path: str) -> ApiResponse:
        """GET, retried on 429 within the budget. A 404 is returned, not raised."""
        return await self._request("GET", self.url(path), retry_rate_limit=True)

    async def post(self, path: str, body: dict[str, Any]) -> ApiResponse:
        """POST without any retry: creates must never be repeated blindly."""
        return await self._request("POST", self.url(path), json=body, retry_rate_limit=False)

    async def delete(self, path: str) -> ApiResponse:
        return await self._request("DELETE", self.url(path), retry_rate_limit=True)

    async def get_pages(self, path: str) -> AsyncIterator[Any]:
        """Bodies of a list and its following pages.

        No paging is documented; a JSON:API ``links.next`` (or top-level ``next``) is followed
        in case large accounts get one, but only on the same host so the token stays there.
        """
        url: str | None = self.url(path)
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            response = await self._request("GET", url, retry_rate_limit=True)
            if response.not_found:
                raise classify(404, _text_of(response.body))
            yield response.body
            url = self._next_page_url(response.body)

    def _next_page_url(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return None
        links = body.get("links")
        candidate = links.get("next") if isinstance(links, dict) else body.get("next")
        if not isinstance(candidate, str) or not candidate:
            return None
        absolute = urljoin(self._base_url + "/", candidate)
        ours, theirs = urlsplit(self._base_url), urlsplit(absolute)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            log.warning("tensordock: ignoring a next-page link to another host")
            return None
        return absolute

    async def _request(
        self, method: str, url: str, *, json: dict[str, Any] | None = None, retry_rate_limit: bool
    ) -> ApiResponse:
        waited = 0.0
        attempt = 0
        while True:
            response = await self._send(method, url, json)
            if response.status_code != 429:
                return self._check(response)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                delay = retry_after
            else:
                delay = DEFAULT_BACKOFF_S[min(attempt, len(DEFAULT_BACKOFF_S) - 1)]
            can_retry = (
                retry_rate_limit
                and attempt < MAX_RATE_LIMIT_RETRIES
                and waited + delay <= RATE_LIMIT_WAIT_BUDGET_S
            )
            if not can_retry:
                raise classify(429, self._message(response), retry_after=retry_after)
            log.info(
                "tensordock: rate limited on %s %s, retrying in %.1fs", method, urlsplit(url).path, delay
            )
            await self._sleep(delay)
            waited += delay
            attempt += 1

    async def _send(self, method: str, url: str, json: dict[str, Any] | None) -> httpx.Response:
        path = urlsplit(url).path
        key = header_safe_key(SLUG, f"{method} {path}", self._api_key)
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        try:
            return await self._http.request(method, url, json=json, headers=headers, timeout=self._timeout_s)
        # Only the type name, and `from None`: an httpx error holds the request, header included.
        except httpx.TimeoutException:
            raise ProviderTransientError(
                SLUG, f"TensorDock did not answer {method} {path} within {self._timeout_s:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderTransientError(
                SLUG, f"could not reach TensorDock ({type(exc).__name__}) on {method} {path}"
            ) from None

    def _redact(self, text: str) -> str:
        # The stripped key is what went on the wire, so that is what a cloud could echo.
        return redact(text, self._api_key, self._api_key.strip())[:_MAX_MESSAGE_CHARS]

    def _message(self, response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        text = _text_of(body) or response.reason_phrase or f"HTTP {response.status_code}"
        return self._redact(text)

    def _check(self, response: httpx.Response) -> ApiResponse:
        if response.is_success and not response.content.strip():
            return ApiResponse(response.status_code, None)
        try:
            body: Any = response.json()
        except ValueError:
            if response.is_success:
                # Every documented success is JSON: this is a page from something in front of
                # TensorDock (proxy, maintenance), and says nothing about our instances.
                kind = self._redact(response.headers.get("content-type", "unknown type").split(";")[0])[:60]
                raise ProviderTransientError(
                    SLUG,
                    f"TensorDock answered HTTP {response.status_code} with a non-JSON body ({kind})",
                    status=response.status_code,
                ) from None
            body = response.text
        if response.is_success:
            embedded = embedded_error(body)
            if embedded is None:
                return ApiResponse(response.status_code, body)
            status, text = embedded
            if status == 404:
                return ApiResponse(404, body)
            raise classify(status, self._redact(text))
        if response.status_code == 404:
            return ApiResponse(404, body)
        raise classify(response.status_code, self._message(response))
