"""Raw HTTP for RunPod's REST v2 (https://api.runpod.io/v2/...).

This module owns the wire: the bearer header, per-call timeouts, problem+json error bodies
and their classification into the ProviderError tree, 429 handling, and the bounded read of
the pod log SSE stream. It returns plain JSON; mapping to neutral types is the adapter's job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

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

PROVIDER = "runpod"
log = logging.getLogger(__name__)

# Sentinels: a 404 where the caller allowed one, and a body that is not JSON.
_MISSING: Any = object()
_UNREADABLE: Any = object()

# 400 on create means "no capacity" per the createPod retry table, but the spend-limit error
# code is unconfirmed: a 400 whose detail talks about money is a quota problem, not capacity.
_MONEY_WORDS = ("balance", "credit", "spend limit", "spending limit", "quota", "payment")


class Op(StrEnum):
    """What a call was for: the same status code means different things per operation."""

    VALIDATE = "validate key"
    OFFERS = "list GPU types"
    CREATE = "create pod"
    GET = "get pod"
    DELETE = "delete pod"
    LOGS = "read pod logs"
    LIST = "list pods"


@dataclass(frozen=True, slots=True)
class LogEvent:
    event_id: str | None
    source: str | None
    line: str


class RunPodClient:
    """One user's key against one base URL. Never shows the key (repr, errors, logs)."""

    max_rate_limit_retries = 2
    rate_limit_budget_s = 5.0
    backoff_without_header_s = (0.5, 1.0)

    def __init__(self, *, api_key: str, http: httpx.AsyncClient, base_url: str, timeout_s: float) -> None:
        self._api_key = api_key
        self._http = http
        self._base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"<RunPodClient {self._base_url}>"

    # ---- endpoints -------------------------------------------------------------------------

    async def list_pods(self, op: Op = Op.LIST) -> list[dict[str, Any]]:
        data = await self._json(op, "GET", "/v2/pods")
        pods = data.get("pods") if isinstance(data, dict) else None
        if not isinstance(pods, list):
            # Reading "no pods" here would let a launch create a twin and a teardown pass.
            raise ProviderTransientError(PROVIDER, f"{op}: the answer has no pods list", status=200)
        return [p for p in pods if isinstance(p, dict)]

    async def get_pod(self, pod_id: str) -> dict[str, Any] | None:
        """The pod, or None when RunPod no longer knows it (404).

        Anything but a pod object in a success raises: only a 404 may mean "gone", because
        the engine takes that as proof a delete ended the billing.
        """
        data = await self._json(Op.GET, "GET", _pod_path(pod_id), missing_ok=True)
        if data is _MISSING:
            return None
        if not isinstance(data, dict):
            raise ProviderTransientError(PROVIDER, f"{Op.GET}: the answer is not a pod", status=200)
        return data

    async def create_pod(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """One POST, never retried here: after an ambiguous failure the caller looks up by name."""
        data = await self._json(Op.CREATE, "POST", "/v2/pods", json_body=body, retry_rate_limit=False)
        if not isinstance(data, dict) or not data.get("id"):
            raise ProviderTransientError(PROVIDER, "create pod returned no pod id")
        return data

    async def delete_pod(self, pod_id: str) -> bool:
        """DELETE (ends all billing). False when the pod was already gone."""
        resp = await self._request(Op.DELETE, "DELETE", _pod_path(pod_id))
        await self._read_body(Op.DELETE, resp)
        if resp.status_code == 404:
            return False
        self._raise_for_status(Op.DELETE, resp)
        if resp.content.strip() and _parse_json(resp.content) is _UNREADABLE:
            # A page from something in front of RunPod, not RunPod's 204: nothing was deleted.
            raise ProviderTransientError(
                PROVIDER, f"{Op.DELETE}: unreadable response body", status=resp.status_code
            )
        return True

    async def list_gpu_types(self, *, gpu_count: int, cloud: str) -> list[dict[str, Any]]:
        params = {"include": "AVAILABILITY", "product": "POD", "cloud": cloud, "count": str(gpu_count)}
        data = await self._json(Op.OFFERS, "GET", "/v2/catalog/gpus", params=params)
        gpus = data.get("gpus") if isinstance(data, dict) else None
        return [g for g in gpus if isinstance(g, dict)] if isinstance(gpus, list) else []

    async def pod_log_events(
        self,
        pod_id: str,
        *,
        last_event_id: str | None,
        tail: int,
        idle_s: float,
        max_s: float,
        max_bytes: int,
    ) -> list[LogEvent] | None:
        """A bounded snapshot of the SSE log stream; None when the pod is gone (404).

        The stream stays open to tail live output, so the read ends when nothing new arrived
        for ``idle_s``, after ``max_s`` in total, or after ``max_bytes``.
        """
        params = {"source": "container"}
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        else:
            params["tail"] = str(tail)
        resp = await self._request(
            Op.LOGS, "GET", f"{_pod_path(pod_id)}/logs", params=params, headers=headers
        )
        if resp.status_code == 404:
            await resp.aclose()
            return None
        if resp.status_code >= 400:
            await self._read_body(Op.LOGS, resp)
            self._raise_for_status(Op.LOGS, resp)
        parser = _SseParser()
        try:
            await _read_stream_bounded(resp, parser, idle_s=idle_s, max_s=max_s, max_bytes=max_bytes)
        finally:
            await resp.aclose()
        return parser.events

    # ---- plumbing --------------------------------------------------------------------------

    async def _json(
        self,
        op: Op,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
        retry_rate_limit: bool = True,
    ) -> Any:
        resp = await self._request(
            op, method, path, params=params, json_body=json_body, retry_rate_limit=retry_rate_limit
        )
        await self._read_body(op, resp)
        if missing_ok and resp.status_code == 404:
            return _MISSING
        self._raise_for_status(op, resp)
        if not resp.content.strip():
            raise ProviderTransientError(PROVIDER, f"{op}: empty response body", status=resp.status_code)
        data = _parse_json(resp.content)
        if data is _UNREADABLE:
            raise ProviderTransientError(PROVIDER, f"{op}: unreadable response body", status=resp.status_code)
        return data

    async def _request(
        self,
        op: Op,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_rate_limit: bool = True,
    ) -> httpx.Response:
        """Send with the 429 policy; returns a streaming response whose body is not read yet."""
        waited = 0.0
        attempt = 0
        while True:
            resp = await self._send_once(op, method, path, params, json_body, headers)
            if resp.status_code != 429:
                return resp
            await self._read_body(op, resp)
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            delay = retry_after
            if delay is None:
                delay = self.backoff_without_header_s[min(attempt, len(self.backoff_without_header_s) - 1)]
            if (
                not retry_rate_limit
                or attempt >= self.max_rate_limit_retries
                or waited + delay > self.rate_limit_budget_s
            ):
                raise RateLimitedError(
                    PROVIDER,
                    f"{op}: rate limited ({self._problem_text(resp)})",
                    status=429,
                    retry_after=delay,
                )
            log.info("runpod %s rate limited; retrying in %.1f s", op, delay)
            await asyncio.sleep(delay)
            waited += delay
            attempt += 1

    async def _send_once(
        self,
        op: Op,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        key = header_safe_key(PROVIDER, op, self._api_key)
        all_headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        all_headers.update(headers or {})
        request = self._http.build_request(
            method,
            self._base_url + path,
            params=params,
            json=json_body,
            headers=all_headers,
            timeout=httpx.Timeout(self.timeout_s),
        )
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._http.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderTransientError(PROVIDER, f"{op}: no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", self._api_key, self._api_key.strip())
            raise ProviderTransientError(PROVIDER, f"{op}: connection failed ({reason})") from None

    async def _read_body(self, op: Op, resp: httpx.Response) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await resp.aread()
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderTransientError(
                PROVIDER, f"{op}: response not read within {self.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", self._api_key, self._api_key.strip())
            raise ProviderTransientError(PROVIDER, f"{op}: connection failed ({reason})") from None
        finally:
            await resp.aclose()

    def _raise_for_status(self, op: Op, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        raise classify_error(op, resp.status_code, self._problem_text(resp))

    def _problem_text(self, resp: httpx.Response) -> str:
        # The stripped key is what went on the wire, so that is what a cloud could echo.
        return redact(problem_text(resp.content, resp.status_code), self._api_key, self._api_key.strip())


def classify_error(op: Op, status: int, text: str) -> ProviderError:
    """Map a RunPod error status (per operation) onto the ProviderError tree."""
    message = f"{op} failed (HTTP {status}): {text}"
    if status == 401:
        return ProviderAuthError(PROVIDER, message, status=status)
    if status == 403:
        if op is Op.CREATE:
            # "Your account cannot access the requested pool. Skip this candidate."
            return NoCapacityError(PROVIDER, message, status=status)
        return ProviderAuthError(PROVIDER, message, status=status)
    if status == 402:
        return QuotaError(PROVIDER, message, status=status)
    if status == 400 and op is Op.CREATE:
        if any(word in text.lower() for word in _MONEY_WORDS):
            return QuotaError(PROVIDER, message, status=status)
        return NoCapacityError(PROVIDER, message, status=status)
    if status == 429:
        return RateLimitedError(PROVIDER, message, status=status)
    if status >= 500:
        return ProviderTransientError(PROVIDER, message, status=status)
    return ProviderBadRequestError(PROVIDER, message, status=status)


def problem_text(body: bytes, status: int) -> str:
    """Readable text from an RFC 9457 body; tolerates v1 ``{"message"}`` and plain text."""
    raw = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("title", "detail", "message", "error") if data.get(k)]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts.append("; ".join(str(e) for e in errors[:5]))
        if parts:
            return _shorten(": ".join(parts))
    return _shorten(raw) if raw else f"HTTP {status} with no body"


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return _UNREADABLE


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pod_path(pod_id: str) -> str:
    return f"/v2/pods/{quote(pod_id, safe='')}"


class _SseParser:
    """Incremental text/event-stream parser keeping ``data:`` events (multi-line data joined)."""

    def __init__(self) -> None:
        self.events: list[LogEvent] = []
        self._buffer = ""
        self._data: list[str] = []
        self._last_id: str | None = None

    def feed(self, text: str) -> None:
        self._buffer += text.replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if not line:
            self._dispatch()
            return
        if line.startswith(":"):
            return
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._last_id = value

    def _dispatch(self) -> None:
        if not self._data:
            return
        data = "\n".join(self._data)
        self._data = []
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            source = payload.get("source")
            line = payload.get("line")
            self.events.append(
                LogEvent(self._last_id, str(source) if source else None, "" if line is None else str(line))
            )
        else:
            self.events.append(LogEvent(self._last_id, None, data))


async def _read_stream_bounded(
    resp: httpx.Response, parser: _SseParser, *, idle_s: float, max_s: float, max_bytes: int
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    received = 0
    chunks = resp.aiter_text().__aiter__()
    while received < max_bytes:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            async with asyncio.timeout(min(idle_s, remaining)):
                chunk = await chunks.__anext__()
        except (TimeoutError, StopAsyncIteration):
            return
        except httpx.HTTPError:
            # The stream broke after some events: keep what was complete, the cursor resumes.
            return
        received += len(chunk)
        parser.feed(chunk)
