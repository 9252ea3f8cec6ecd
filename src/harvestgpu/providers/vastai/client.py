"""Raw HTTP + JSON for Vast.ai's REST API: auth, timeouts, 429 retries and error classification.

Vast answers errors as ``{"success": false, "error": "<code>", "msg": "..."}`` on most endpoints,
but some omit ``success``/``error``, say ``message`` or ``detail`` instead of ``msg``, or send
plain text (429s mostly), so every field is read defensively. Everything this module raises is
a :class:`ProviderError` whose message has been passed through :func:`redact`; network
failures are reported by exception type only, since httpx echoes illegal header values.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

PROVIDER = "vastai"
# Idempotent calls are retried after a 429 at most this often, waiting at most this long in all.
MAX_RATE_LIMIT_RETRIES = 2
MAX_RATE_LIMIT_WAIT_S = 5.0
# Vast sends no Retry-After; its per-endpoint minimum intervals are a few seconds at most.
BACKOFF_WITHOUT_RETRY_AFTER_S = (0.5, 1.0)
MAX_MESSAGE_CHARS = 300

_AUTH_CODES = frozenset({"auth_error", "not_authorized", "unauthorized", "invalid_key"})
_GONE_CODES = frozenset({"not_found", "no_such_instance", "invalid_id"})
_QUOTA_WORDS = ("credit", "balance", "insufficient funds", "quota")
_THRESHOLD_RE = re.compile(r"threshold=([0-9]+(?:\.[0-9]+)?)")


class InstanceNotFoundError(ProviderError):
    """The cloud does not know this instance (any more). Adapters turn it into TERMINATED."""

    error_class = "not_found"


class LogsNotAuthorizedError(ProviderError):
    """Vast refuses this one instance's logs (403 ``not_authorized``); the key itself is fine."""

    error_class = "logs_unavailable"


@dataclass(frozen=True, slots=True)
class VastReply:
    status: int
    body: Any  # parsed JSON, or the raw text when the body was not JSON
    headers: Mapping[str, str]


def error_fields(body: Any) -> tuple[str, str]:
    """(error code, human message) from any of Vast's error body shapes."""
    if isinstance(body, dict):
        code = str(body.get("error") or "")
        message = body.get("msg") or body.get("message") or body.get("detail") or code
        return code, str(message)
    return "", str(body or "").strip()


def classify(op: str, status: int, body: Any, *, secret: str | None) -> ProviderError:
    """Map one failed Vast answer onto the neutral error tree.

    ``op`` is the adapter operation ("validate", "offers", "launch", "get", "terminate", "logs",
    "list"): the same status means different things on different endpoints.
    """
    code, raw_message = error_fields(body)
    message = redact(raw_message, secret)[:MAX_MESSAGE_CHARS] or f"HTTP {status}"
    text = f"{code} {raw_message}".lower()
    if status in (402, 411) or code.startswith("insufficient") or any(w in text for w in _QUOTA_WORDS):
        return QuotaError(PROVIDER, f"insufficient credit: {message}", status=status)
    if status == 429 or code == "rate_limit_exceeded":
        threshold = _THRESHOLD_RE.search(raw_message)
        hint = float(threshold.group(1)) if threshold else None
        return RateLimitedError(PROVIDER, f"rate limited: {message}", status=status, retry_after=hint)
    if op == "logs" and code == "not_authorized":  # per instance: only auth_error means a bad key
        return LogsNotAuthorizedError(PROVIDER, f"logs not available: {message}", status=status)
    # Offer search answers a bad key with 404 "Invalid user key" (OpenAPI searchOffers).
    if code in _AUTH_CODES or "invalid user key" in text:
        return ProviderAuthError(PROVIDER, f"key rejected: {message}", status=status)
    if op == "launch":
        if status in (404, 410) or "no_such_ask" in text or "not available" in text:
            return NoCapacityError(PROVIDER, f"offer no longer available: {message}", status=status)
        if status == 403:  # "Offer ... is not your own": this account cannot rent it, others may
            return NoCapacityError(PROVIDER, f"offer not rentable: {message}", status=status)
    if status in (401, 403):
        return ProviderAuthError(PROVIDER, f"key rejected: {message}", status=status)
    if op in ("get", "terminate", "logs") and (status == 404 or code in _GONE_CODES):
        return InstanceNotFoundError(PROVIDER, f"instance not found: {message}", status=status)
    if status >= 500:
        return ProviderTransientError(PROVIDER, f"server error {status}: {message}", status=status)
    return ProviderBadRequestError(PROVIDER, f"request rejected ({status}): {message}", status=status)


class VastClient:
    """One user's key against one Vast base URL. Holds no connection of its own."""

    def __init__(self, *, api_key: str, http: httpx.AsyncClient, base_url: str, timeout_s: float) -> None:
        self._api_key = api_key
        self._http = http
        self._base_url = base_url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"<VastClient {self._base_url}>"

    async def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_rate_limit: bool = True,
    ) -> VastReply:
        """One API call; raises the classified error unless the answer is a 2xx success."""
        reply = await self.exchange(
            op, method, path, json=json, params=params, retry_rate_limit=retry_rate_limit
        )
        error = self.failure(op, reply)
        if error is not None:
            raise error
        return reply

    async def exchange(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_rate_limit: bool = True,
    ) -> VastReply:
        """One API call with the 429 retries: the last answer, whatever its status.

        ``retry_rate_limit`` must be False for calls that are not idempotent (creating an
        instance): those return a 429 at once and the caller decides.
        """
        waited = 0.0
        attempt = 0
        while True:
            reply = await self._send(op, method, path, json=json, params=params)
            if reply.status != 429 or not retry_rate_limit or attempt >= MAX_RATE_LIMIT_RETRIES:
                return reply
            header = retry_after_seconds(reply.headers.get("retry-after"))
            delay = header if header is not None else BACKOFF_WITHOUT_RETRY_AFTER_S[min(attempt, 1)]
            if waited + delay > MAX_RATE_LIMIT_WAIT_S:
                return reply
            log.info("vastai %s rate limited; retrying in %.2fs", op, delay)
            await asyncio.sleep(delay)
            waited += delay
            attempt += 1

    def failure(self, op: str, reply: VastReply) -> ProviderError | None:
        """The classified error of a failed answer, None for a success."""
        failed_in_body = isinstance(reply.body, dict) and reply.body.get("success") is False
        if 200 <= reply.status < 300 and not failed_in_body:
            return None
        error = classify(op, reply.status, reply.body, secret=self._wire_key)
        if reply.status != 429:
            return error
        header = retry_after_seconds(reply.headers.get("retry-after"))
        hint = error.retry_after if isinstance(error, ProviderTransientError) else None
        retry_after = header if header is not None else hint
        return RateLimitedError(PROVIDER, error.message, status=429, retry_after=retry_after)

    @property
    def _wire_key(self) -> str:
        return self._api_key.strip()  # what header_safe_key sends, so what an answer can echo

    async def _send(
        self, op: str, method: str, path: str, *, json: Any, params: Mapping[str, str] | None
    ) -> VastReply:
        key = header_safe_key(PROVIDER, op, self._api_key)
        try:
            response = await self._http.request(
                method,
                f"{self._base_url}{path}",
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
                timeout=self.timeout_s,
            )
        except httpx.TimeoutException as exc:
            failure = f"timed out after {self.timeout_s:g}s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            failure = f"failed: {type(exc).__name__}"
        else:
            return VastReply(response.status_code, _parse_body(response), response.headers)
        # Raised outside the handler: the exception's text (which may echo the header) must
        # not ride along as __cause__ or __context__.
        raise ProviderTransientError(PROVIDER, f"{method} {path} {failure}") from None

    async def fetch_result_url(self, url: str) -> str | None:
        """GET a result_url (an S3 object): its text, or None while it does not exist yet.

        Sent without the Vast key: the URL is pre-signed storage, not the API.
        """
        try:
            response = await self._http.get(url, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            failure = f"log download timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            failure = f"log download failed: {type(exc).__name__}"
        else:
            if response.status_code in (403, 404):  # S3 answers 403 or 404 until the upload lands
                return None
            if response.status_code != 200:
                raise ProviderTransientError(
                    PROVIDER,
                    f"log download answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            return response.text
        raise ProviderTransientError(PROVIDER, failure) from None


def _parse_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
