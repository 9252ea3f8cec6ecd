"""Scripted HTTP answers and a fake clock for SDK unit tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

BASE_URL = "http://hg.test"
API_KEY = "hg_live_unit_test_key_0123456789"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Monotonic time that only moves when the SDK sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A success envelope."""
    return httpx.Response(
        status, json={"status": "ok", "data": data}, headers={"X-Request-ID": "req-ok", **(headers or {})}
    )


def fail(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """An error envelope."""
    return httpx.Response(
        status,
        json={"status": "error", "error": message},
        headers={"X-Request-ID": f"req-{status}", **(headers or {})},
    )


def job_json(job_id: str = "job-1", status: str = "running", **fields: Any) -> dict[str, Any]:
    """A JobOut as the server sends it."""
    job: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "gpu": "H100",
        "gpu_type": "H100-PCIE" if status != "queued" else None,
        "gpu_count": 1,
        "provider": "mock" if status != "queued" else None,
        "region": "us-east" if status != "queued" else None,
        "image": "pytorch/pytorch:latest",
        "command": "python train.py",
        "priority": "cost",
        "budget_max_per_hour": 2.5,
        "max_duration_hours": None,
        "cost_per_hour": 2.39 if status != "queued" else None,
        "total_cost": 0.0,
        "created_at": "2026-04-14T12:00:00Z",
        "started_at": None,
        "ended_at": None,
        "exit_code": None,
        "error": None,
        "env_keys": [],
        "routing": None,
    }
    job.update(fields)
    return job


def sse(*events: tuple[str, dict[str, Any]], comments: bool = True) -> bytes:
    """A Server-Sent Events body: ``event:``/``data:`` pairs, with a keepalive comment first."""
    text = ": keepalive\n\n" if comments else ""
    for name, data in events:
        text += f"event: {name}\ndata: {json.dumps(data)}\n\n"
    return text.encode()


class Script:
    """A handler answering requests in order from a list of responses or exceptions to raise."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.steps:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step
