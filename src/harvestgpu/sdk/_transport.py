"""The one request path: settings, headers, retries, envelope and error mapping.

:class:`SyncRequester` and :class:`AsyncRequester` differ only in how they wait and do I/O;
every decision comes from :mod:`harvestgpu.sdk._responses` and the :class:`Operation`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from harvestgpu.errors import APIConnectionError, AuthenticationError, InvalidRequestError
from harvestgpu.http_headers import is_header_safe
from harvestgpu.sdk._config_file import SavedSettings, read_saved_settings
from harvestgpu.sdk._operation import API_PREFIX, Operation
from harvestgpu.sdk._responses import (
    RetryPolicy,
    connection_error,
    error_from_response,
    parse_success,
    redact,
    retry_delay_for_error,
    retry_delay_for_response,
)
from harvestgpu.sdk._version import VERSION

T = TypeVar("T")

DEFAULT_BASE_URL = "http://localhost:5000"
API_KEY_ENV = "HARVESTGPU_API_KEY"
BASE_URL_ENV = "HARVESTGPU_BASE_URL"
MISSING_KEY_MESSAGE = (
    "No API key: pass api_key=... to the client, set HARVESTGPU_API_KEY, or run `harvestgpu auth login`"
)
MALFORMED_KEY_MESSAGE = (
    "The API key cannot be sent: it contains spaces, control characters or non-ASCII characters. "
    "Copy it again exactly as it was shown (hg_live_...)"
)


def clean_api_key(value: str | None) -> str | None:
    """A key without the whitespace pasting adds around it (a trailing newline); None if blank."""
    if value is None:
        return None
    return value.strip() or None


@dataclass(frozen=True)
class ClientSettings:
    """Where and how the client talks to the server. The key is kept out of ``repr``."""

    base_url: str
    api_key: str | None = field(repr=False)
    timeout: float
    retry: RetryPolicy

    @classmethod
    def resolve(
        cls, api_key: str | None, base_url: str | None, timeout: float, max_retries: int
    ) -> ClientSettings:
        """Fill what was not passed, first match wins.

        Key: ``api_key`` argument, ``HARVESTGPU_API_KEY``, the key ``harvestgpu auth login``
        saved. Server: ``base_url`` argument, ``HARVESTGPU_BASE_URL``, the saved server, the
        default. Surrounding whitespace is stripped from every key.
        """
        key = clean_api_key(api_key if api_key is not None else os.environ.get(API_KEY_ENV))
        url = (base_url or "").strip() or (os.environ.get(BASE_URL_ENV) or "").strip()
        # An explicit api_key (even "") is final; the file is read only when something is missing.
        use_saved_key = api_key is None and key is None
        saved = read_saved_settings() if use_saved_key or not url else SavedSettings()
        if use_saved_key:
            key = saved.api_key
        return cls(
            base_url=normalize_base_url(url or saved.base_url or DEFAULT_BASE_URL),
            api_key=key,
            timeout=timeout,
            retry=RetryPolicy(max_retries=max(0, max_retries)),
        )


def normalize_base_url(url: str) -> str:
    """Accept ``http://host:5000``, with or without a trailing slash or ``/api/v1``."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def _build_request(
    client: httpx.Client | httpx.AsyncClient, settings: ClientSettings, operation: Operation[Any]
) -> httpx.Request:
    headers = {"Accept": "application/json", "User-Agent": f"harvestgpu-python/{VERSION}"}
    if operation.auth != "none" and settings.api_key:
        # Checked here, not by httpx: its error would quote the header, and so the key.
        if not is_header_safe(settings.api_key):
            raise AuthenticationError(MALFORMED_KEY_MESSAGE, status=401)
        headers["Authorization"] = f"Bearer {settings.api_key}"
    elif operation.auth == "required":
        raise AuthenticationError(MISSING_KEY_MESSAGE, status=401)
    if operation.idempotency_key:
        headers["Idempotency-Key"] = operation.idempotency_key
    headers.update(operation.headers)
    try:
        return client.build_request(
            operation.method,
            settings.base_url + operation.url_path,
            params=dict(operation.params) or None,
            json=operation.body,
            headers=headers,
            timeout=settings.timeout,
        )
    except httpx.InvalidURL as exc:
        detail = redact(str(exc), _secrets(settings, operation))
        raise APIConnectionError(f"Invalid HarvestGPU base URL {settings.base_url!r}: {detail}") from None
    except (TypeError, ValueError) as exc:
        # A body JSON cannot encode (NaN, an object) or a header that is not ASCII.
        detail = redact(" ".join(str(exc).split()) or type(exc).__name__, _secrets(settings, operation))
        raise InvalidRequestError(
            f"Cannot send {operation.method} {operation.url_path}: {detail}", status=400
        ) from None


def _secrets(settings: ClientSettings, operation: Operation[Any]) -> tuple[str | None, ...]:
    return (settings.api_key, *operation.secrets)


class SyncRequester:
    """Sends operations with a blocking ``httpx.Client``.

    ``sleep`` and ``clock`` are the only ways this class (and the jobs built on it) waits or
    reads time, so tests can replace them with a fake clock.
    """

    def __init__(self, settings: ClientSettings, http_client: httpx.Client | None = None) -> None:
        self.settings = settings
        self._client = http_client or httpx.Client(timeout=settings.timeout)
        self._owns_client = http_client is None
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic

    def send(self, operation: Operation[T]) -> T:
        """Send ``operation`` (retrying as its policy allows) and return its parsed data."""
        response = self._exchange(operation, stream=False)
        return parse_success(response, operation, self.settings.api_key)

    @contextmanager
    def stream(self, operation: Operation[Any]) -> Iterator[httpx.Response]:
        """Open a streamed successful response (errors raise as in :meth:`send`)."""
        response = self._exchange(operation, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _exchange(self, operation: Operation[Any], *, stream: bool) -> httpx.Response:
        request = _build_request(self._client, self.settings, operation)
        retry_number = 0
        while True:
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = retry_delay_for_error(self.settings.retry, operation, exc, retry_number)
                if delay is None:
                    raise connection_error(
                        exc, self.settings.base_url, _secrets(self.settings, operation)
                    ) from None
            else:
                if response.is_success:
                    return response
                if stream:
                    _read_and_close(response)
                delay = retry_delay_for_response(self.settings.retry, operation, response, retry_number)
                if delay is None:
                    raise error_from_response(response, operation, self.settings.api_key)
            self.sleep(delay)
            retry_number += 1

    def close(self) -> None:
        """Close the connection pool (only if this requester created it)."""
        if self._owns_client:
            self._client.close()


def _read_and_close(response: httpx.Response) -> None:
    try:
        response.read()
    except httpx.TransportError:
        pass
    finally:
        response.close()


class AsyncRequester:
    """Sends operations with an ``httpx.AsyncClient``; the async twin of :class:`SyncRequester`."""

    def __init__(self, settings: ClientSettings, http_client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = http_client or httpx.AsyncClient(timeout=settings.timeout)
        self._owns_client = http_client is None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.clock: Callable[[], float] = time.monotonic

    async def send(self, operation: Operation[T]) -> T:
        """Send ``operation`` (retrying as its policy allows) and return its parsed data."""
        response = await self._exchange(operation, stream=False)
        return parse_success(response, operation, self.settings.api_key)

    @asynccontextmanager
    async def stream(self, operation: Operation[Any]) -> AsyncIterator[httpx.Response]:
        """Open a streamed successful response (errors raise as in :meth:`send`)."""
        response = await self._exchange(operation, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def _exchange(self, operation: Operation[Any], *, stream: bool) -> httpx.Response:
        request = _build_request(self._client, self.settings, operation)
        retry_number = 0
        while True:
            try:
                response = await self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = retry_delay_for_error(self.settings.retry, operation, exc, retry_number)
                if delay is None:
                    raise connection_error(
                        exc, self.settings.base_url, _secrets(self.settings, operation)
                    ) from None
            else:
                if response.is_success:
                    return response
                if stream:
                    await _aread_and_close(response)
                delay = retry_delay_for_response(self.settings.retry, operation, response, retry_number)
                if delay is None:
                    raise error_from_response(response, operation, self.settings.api_key)
            await self.sleep(delay)
            retry_number += 1

    async def aclose(self) -> None:
        """Close the connection pool (only if this requester created it)."""
        if self._owns_client:
            await self._client.aclose()


async def _aread_and_close(response: httpx.Response) -> None:
    try:
        await response.aread()
    except httpx.TransportError:
        pass
    finally:
        await response.aclose()
