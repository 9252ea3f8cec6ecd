"""Following a job's logs live over Server-Sent Events.

The stream sends ``event: log`` / ``data: {"offset": n, "line": "..."}`` per line and a final
``event: end`` / ``data: {"status": "...", "exit_code": n}``. If the connection drops before
``end``, the follower reconnects from the next offset, so no line is lost or repeated. A server
that answers ``follow=true`` with a plain JSON page is polled instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from harvestgpu.errors import APIConnectionError
from harvestgpu.models import TERMINAL_STATUSES, JobLogs
from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._endpoints import SSE_MEDIA_TYPE
from harvestgpu.sdk._responses import parse_success
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester

POLL_INTERVAL = 1.0


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched SSE event: its name (``message`` when unnamed) and its data."""

    name: str
    data: str


@dataclass
class SSEParser:
    """Incremental Server-Sent Events parser: feed it lines, get whole events back."""

    _name: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> ServerSentEvent | None:
        """Consume one line (without its newline); return an event when a blank line ends one."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment, e.g. ": keepalive"
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and not self._name:
            return None
        event = ServerSentEvent(self._name or "message", "\n".join(self._data))
        self._name, self._data = "", []
        return event


def parse_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """All events in an iterable of lines (a final event without a blank line is dispatched)."""
    parser = SSEParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event
    last = parser.feed("")
    if last is not None:
        yield last


@dataclass(frozen=True)
class LogEnd:
    """How the job ended, as the log stream reported it."""

    status: str
    exit_code: int | None


class LogFollower:
    """Turns stream events and log pages into new lines and remembers where to resume."""

    def __init__(self, offset: int) -> None:
        self.next_offset = offset
        self.end: LogEnd | None = None

    def on_event(self, event: ServerSentEvent) -> str | None:
        """The new line carried by ``event``, if any; records the end of the stream."""
        data = _json_object(event.data)
        if event.name == "end":
            exit_code = data.get("exit_code")
            self.end = LogEnd(str(data.get("status", "")), exit_code if isinstance(exit_code, int) else None)
            return None
        if event.name not in ("log", "message"):
            return None
        if not data:
            return event.data
        offset = data.get("offset")
        if isinstance(offset, int):
            if offset < self.next_offset:  # already delivered before a reconnect
                return None
            self.next_offset = offset + 1
        return str(data.get("line", ""))

    def on_page(self, logs: JobLogs) -> list[str]:
        """The lines of a JSON log page; records the end when the job is finished."""
        self.next_offset = logs.next_offset
        if logs.status in TERMINAL_STATUSES:
            self.end = LogEnd(logs.status, logs.exit_code)
        return logs.lines


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _with_final_blank(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The lines, then a blank one, so an event not followed by a blank line is still dispatched."""
    async for line in lines:
        yield line
    yield ""


def _is_event_stream(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith(SSE_MEDIA_TYPE)


class _Reconnects:
    """Counts reconnects that brought nothing new; too many in a row means the stream is broken."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fruitless = 0

    def record(self, progressed: bool, reason: str) -> None:
        self.fruitless = 0 if progressed else self.fruitless + 1
        if self.fruitless > self.limit:
            raise APIConnectionError(f"The log stream kept breaking before the job ended: {reason}")


def follow_logs(http: SyncRequester, job_id: str, follower: LogFollower) -> Iterator[str]:
    """Yield the job's log lines as they are written, until the job ends."""
    reconnects = _Reconnects(max(http.settings.retry.max_retries, 1))
    while follower.end is None:
        start = follower.next_offset
        reason = "the server closed it"
        try:
            with http.stream(endpoints.follow_job_logs(job_id, follower.next_offset)) as response:
                if _is_event_stream(response):
                    for event in parse_sse(response.iter_lines()):
                        line = follower.on_event(event)
                        if line is not None:
                            yield line
                        if follower.end is not None:
                            return
                else:
                    response.read()
                    page = parse_success(response, endpoints.job_logs(job_id, start), http.settings.api_key)
                    yield from follower.on_page(page)
                    if follower.end is None:
                        http.sleep(POLL_INTERVAL)
                    continue
        except httpx.ReadTimeout:
            continue  # a quiet job, not a broken connection: just ask again
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
        reconnects.record(follower.next_offset > start, reason)
        http.sleep(http.settings.retry.backoff(reconnects.fruitless))


async def afollow_logs(http: AsyncRequester, job_id: str, follower: LogFollower) -> AsyncIterator[str]:
    """Async twin of :func:`follow_logs`."""
    reconnects = _Reconnects(max(http.settings.retry.max_retries, 1))
    while follower.end is None:
        start = follower.next_offset
        reason = "the server closed it"
        try:
            async with http.stream(endpoints.follow_job_logs(job_id, follower.next_offset)) as response:
                if _is_event_stream(response):
                    parser = SSEParser()
                    async for raw_line in _with_final_blank(response.aiter_lines()):
                        event = parser.feed(raw_line)
                        line = follower.on_event(event) if event is not None else None
                        if line is not None:
                            yield line
                        if follower.end is not None:
                            return
                else:
                    await response.aread()
                    page = parse_success(response, endpoints.job_logs(job_id, start), http.settings.api_key)
                    for line in follower.on_page(page):
                        yield line
                    if follower.end is None:
                        await http.sleep(POLL_INTERVAL)
                    continue
        except httpx.ReadTimeout:
            continue
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
        reconnects.record(follower.next_offset > start, reason)
        await http.sleep(http.settings.retry.backoff(reconnects.fruitless))
