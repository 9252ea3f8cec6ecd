"""Pure decisions of the request path: when to retry, how long to wait, what an answer means."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from harvestgpu.errors import APIConnectionError, APIError, HarvestGPUError, error_for_status
from harvestgpu.http_headers import parse_retry_after
from harvestgpu.sdk._operation import Operation

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
NO_CAPACITY_MARKER = "no providers available"
REDACTED = "***"
# Secrets shorter than this are not worth redacting: replacing them would mangle ordinary words.
MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before it gives up.

    Attributes:
        max_retries: extra attempts after the first one (0 disables retrying).
        backoff_base: the first backoff in seconds; each retry doubles it.
        backoff_max: the longest backoff in seconds.
        max_retry_after: a ``Retry-After`` longer than this (seconds) is not waited for; the
            :class:`~harvestgpu.errors.RateLimitError` is raised so the caller can decide.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, retry_number: int) -> float:
        """Exponential backoff with jitter: between half and all of ``base * 2**n`` (capped)."""
        ceiling = min(self.backoff_max, self.backoff_base * float(2**retry_number))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _written_forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in an error text: as is, trimmed, and escaped.

    Libraries quote what they refused as ``repr`` of the ``str`` or of its UTF-8 ``bytes``
    (``b'Bearer hg_live_...\\n'``), or as JSON; each escapes differently.
    """
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        forms.add(value)
        forms.add(repr(value)[1:-1])
        forms.add(repr(value.encode("utf-8", "backslashreplace"))[2:-1])
        forms.add(value.encode("unicode_escape").decode("ascii"))
        forms.add(json.dumps(value)[1:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def redact(text: str, secrets: tuple[str | None, ...]) -> str:
    """Replace every secret in ``text`` (also in its escaped forms) with ``***``."""
    forms = {
        form
        for secret in secrets
        if secret and len(secret.strip()) >= MIN_SECRET_LENGTH
        for form in _written_forms(secret)
    }
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def _error_text(response: httpx.Response) -> str:
    """The envelope's ``error`` message, or a short description of a non-HarvestGPU answer."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    snippet = " ".join(response.text.split())[:200] if response.content else ""
    reason = response.reason_phrase or "error"
    return f"{reason}: {snippet}" if snippet else reason


def error_from_response(response: httpx.Response, operation: Operation[Any], api_key: str | None) -> APIError:
    """The exception for an error answer, with the server's message and request id."""
    message = redact(_error_text(response), (api_key, *operation.secrets))
    return error_for_status(
        response.status_code,
        message,
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def is_final_no_capacity(response: httpx.Response, operation: Operation[Any]) -> bool:
    """A job submit's 503 "No providers available" is the router's answer, not an outage."""
    if not operation.no_capacity_is_final or response.status_code != 503:
        return False
    return NO_CAPACITY_MARKER in _error_text(response).lower()


def retry_delay_for_response(
    policy: RetryPolicy, operation: Operation[Any], response: httpx.Response, retry_number: int
) -> float | None:
    """Seconds to wait before retrying after this error answer, or None to give up."""
    status = response.status_code
    if retry_number >= policy.max_retries or status not in RETRYABLE_STATUSES:
        return None
    if is_final_no_capacity(response, operation):
        return None
    # 429 and 503 are refusals before any work; a 502/504 may hide a request that was processed.
    if status in (502, 504) and not operation.replay_safe:
        return None
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is None:
        return policy.backoff(retry_number)
    if retry_after > policy.max_retry_after:
        return None
    return retry_after


def retry_delay_for_error(
    policy: RetryPolicy, operation: Operation[Any], error: httpx.TransportError, retry_number: int
) -> float | None:
    """Seconds to wait before retrying after a transport failure, or None to give up."""
    if retry_number >= policy.max_retries:
        return None
    never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if never_sent:
        return policy.backoff(retry_number)
    maybe_processed = httpx.NetworkError | httpx.TimeoutException | httpx.RemoteProtocolError
    if isinstance(error, maybe_processed) and operation.replay_safe:
        return policy.backoff(retry_number)
    return None


def connection_error(
    error: httpx.TransportError, base_url: str, secrets: tuple[str | None, ...]
) -> HarvestGPUError:
    """An :class:`APIConnectionError` that says where we tried to go and why it failed."""
    reason = str(error) or type(error).__name__
    return APIConnectionError(redact(f"Could not reach HarvestGPU at {base_url}: {reason}", secrets))


def parse_success(response: httpx.Response, operation: Operation[T], api_key: str | None) -> T:
    """Unwrap the ``{"status": "ok", "data": ...}`` envelope and parse ``data``."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        raise APIError(
            "The server answered with something that is not JSON; is the base URL a HarvestGPU server?",
            status=response.status_code,
            request_id=request_id,
        ) from None
    if not isinstance(body, dict) or body.get("status") != "ok" or "data" not in body:
        raise APIError(
            "The server's answer is not a HarvestGPU envelope; is the base URL a HarvestGPU server?",
            status=response.status_code,
            request_id=request_id,
        )
    try:
        return operation.parse(body["data"])
    except (ValueError, KeyError, TypeError) as exc:
        detail = redact(" ".join(str(exc).split())[:300] or type(exc).__name__, (api_key, *operation.secrets))
        raise APIError(
            f"Unexpected answer from {operation.method} {operation.url_path}: {detail}",
            status=response.status_code,
            request_id=request_id,
        ) from None
