"""Logs: the SSE parser, live following (with reconnects), and the plain text log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from harvestgpu import APIConnectionError, AsyncHarvestGPU, HarvestGPU, NotFoundError
from harvestgpu.sdk._logs import ServerSentEvent, parse_sse
from tests.sdk.scripted import Script, fail, job_json, ok, sse

SSE_HEADERS = {"content-type": "text/event-stream"}


def log_event(offset: int, line: str) -> tuple[str, dict[str, object]]:
    return ("log", {"offset": offset, "line": line})


def end_event(status: str = "completed", exit_code: int | None = 0) -> tuple[str, dict[str, object]]:
    return ("end", {"status": status, "exit_code": exit_code})


class LogStreamServer:
    """``GET /jobs/job-1`` plus scripted answers for each ``GET /jobs/job-1/logs`` request."""

    def __init__(self, *streams: httpx.Response) -> None:
        self.streams = list(streams)
        self.log_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/jobs/job-1":
            return ok(job_json("job-1", status="running"))
        assert request.url.path == "/api/v1/jobs/job-1/logs"
        self.log_requests.append(request)
        return self.streams.pop(0)


def broken_stream(body: bytes) -> Iterator[bytes]:
    yield body
    raise httpx.ReadError("Connection reset by peer")


async def async_broken_stream(body: bytes) -> AsyncIterator[bytes]:
    yield body
    raise httpx.ReadError("Connection reset by peer")


def test_parser_reads_named_events_multiline_data_and_skips_comments() -> None:
    lines = [
        ": keepalive",
        "",
        "event: log",
        'data: {"offset": 0, "line": "hello"}',
        "",
        "data: first",
        "data: second",
        "",
        "event: end",
        "data: {}",
    ]

    events = list(parse_sse(lines))

    assert events == [
        ServerSentEvent("log", '{"offset": 0, "line": "hello"}'),
        ServerSentEvent("message", "first\nsecond"),
        ServerSentEvent("end", "{}"),
    ]


def test_follow_yields_each_line_live_and_ends_with_the_job(make_client: Callable[..., HarvestGPU]) -> None:
    body = sse(log_event(0, "epoch 1"), log_event(1, "epoch 2"), log_event(2, "done"), end_event("failed", 3))
    server = LogStreamServer(httpx.Response(200, headers=SSE_HEADERS, content=body))
    job = make_client(server).job("job-1")

    lines = list(job.logs(follow=True))

    assert lines == ["epoch 1", "epoch 2", "done"]
    assert (job.status, job.exit_code) == ("failed", 3)
    request = server.log_requests[0]
    assert request.url.params["follow"] == "true"
    assert request.headers["accept"] == "text/event-stream"


def test_follow_reconnects_from_the_next_offset_after_a_broken_stream(
    make_client: Callable[..., HarvestGPU],
) -> None:
    first = httpx.Response(
        200, headers=SSE_HEADERS, content=broken_stream(sse(log_event(0, "a"), log_event(1, "b")))
    )
    # The server may resend a line it already sent; the client must not repeat it.
    second = httpx.Response(
        200, headers=SSE_HEADERS, content=sse(log_event(1, "b"), log_event(2, "c"), end_event())
    )
    server = LogStreamServer(first, second)
    job = make_client(server).job("job-1")

    lines = list(job.logs(follow=True))

    assert lines == ["a", "b", "c"]
    assert [request.url.params["offset"] for request in server.log_requests] == ["0", "2"]
    assert job.status == "completed"


def test_follow_gives_up_when_the_stream_keeps_breaking_without_progress(
    make_client: Callable[..., HarvestGPU],
) -> None:
    streams = [
        httpx.Response(200, headers=SSE_HEADERS, content=broken_stream(b": keepalive\n\n")) for _ in range(5)
    ]
    server = LogStreamServer(*streams)
    job = make_client(server, max_retries=2).job("job-1")

    with pytest.raises(APIConnectionError, match="log stream kept breaking"):
        list(job.logs(follow=True))

    assert len(server.log_requests) == 3


def test_follow_polls_a_server_that_answers_with_json_pages(make_client: Callable[..., HarvestGPU]) -> None:
    def page(lines: list[str], next_offset: int, status: str) -> httpx.Response:
        exit_code = 0 if status == "completed" else None
        return ok(
            {
                "job_id": "job-1",
                "status": status,
                "lines": lines,
                "next_offset": next_offset,
                "exit_code": exit_code,
            }
        )

    server = LogStreamServer(page(["a"], 1, "running"), page(["b", "c"], 3, "completed"))
    job = make_client(server).job("job-1")

    assert list(job.logs(follow=True)) == ["a", "b", "c"]
    assert [request.url.params["offset"] for request in server.log_requests] == ["0", "1"]


def test_follow_of_an_unknown_job_raises_not_found(make_client: Callable[..., HarvestGPU]) -> None:
    server = LogStreamServer(fail(404, "Job 'job-1' not found"))
    job = make_client(server).job("job-1")

    with pytest.raises(NotFoundError):
        list(job.logs(follow=True))


def test_logs_returns_the_whole_log_as_text(make_client: Callable[..., HarvestGPU]) -> None:
    def page(lines: list[str], offset: int) -> httpx.Response:
        data = {"job_id": "job-1", "status": "completed", "lines": lines, "next_offset": offset + len(lines)}
        return ok(data)

    script = Script(ok(job_json("job-1")), page(["line 1", "line 2"], 0), page(["line 3"], 2), page([], 3))
    job = make_client(script).job("job-1")

    assert job.logs() == "line 1\nline 2\nline 3"
    assert [request.url.params.get("offset") for request in script.requests[1:]] == ["0", "2", "3"]


async def test_async_follow_yields_lines_and_reconnects(
    make_async_client: Callable[..., AsyncHarvestGPU],
) -> None:
    first = httpx.Response(200, headers=SSE_HEADERS, content=async_broken_stream(sse(log_event(0, "a"))))
    second = httpx.Response(
        200, headers=SSE_HEADERS, content=sse(log_event(1, "b"), end_event("stopped", None))
    )
    server = LogStreamServer(first, second)
    job = await make_async_client(server).job("job-1")

    lines = [line async for line in job.logs(follow=True)]

    assert lines == ["a", "b"]
    assert (job.status, job.exit_code) == ("stopped", None)
    assert [request.url.params["offset"] for request in server.log_requests] == ["0", "1"]


async def test_async_logs_returns_text(make_async_client: Callable[..., AsyncHarvestGPU]) -> None:
    page = {"job_id": "job-1", "status": "running", "lines": ["x", "y"], "next_offset": 2}
    empty = {"job_id": "job-1", "status": "running", "lines": [], "next_offset": 2}
    job = await make_async_client(Script(ok(job_json("job-1")), ok(page), ok(empty))).job("job-1")

    assert await job.logs() == "x\ny"
