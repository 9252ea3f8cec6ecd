"""Scripted faults shared by the fake clouds: the ops and fault kinds, and a queue per op.

``fail_next(op, fault, times, delay_s)`` arms faults here; a fake's routes take them as requests
arrive. What a fault looks like on the wire (status, body, headers) is each cloud's own business.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass

from starlette.requests import Request

OPS = frozenset({"validate", "offers", "launch", "get", "terminate", "logs", "list"})
FAULTS = frozenset(
    {"no_capacity", "auth", "balance", "rate_limit", "server_error", "slow", "create_then_fail"}
)
# Faults that only make sense for a launch; clouds whose fakes reject them elsewhere opt in.
LAUNCH_ONLY_FAULTS = frozenset({"no_capacity", "create_then_fail"})


@dataclass(frozen=True)
class Fault:
    kind: str
    delay_s: float  # how long "slow" stalls (RunPod also derives Retry-After from it)


class FaultQueue:
    """Faults armed per op, each used by exactly one request, oldest first."""

    def __init__(self, *, launch_only: frozenset[str] = frozenset()) -> None:
        self._launch_only = launch_only
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {op: deque() for op in OPS}

    def arm(self, op: str, kind: str, times: int = 1, delay_s: float = 2.0) -> None:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULTS)}")
        if kind in self._launch_only and op != "launch":
            raise ValueError(f"fault {kind!r} only applies to launch")
        with self._lock:
            self._queues[op].extend([Fault(kind, delay_s)] * times)

    def take(self, *ops: str) -> Fault | None:
        """The next fault armed for the first of ``ops`` that has one; None if none does."""
        with self._lock:
            for op in ops:
                if self._queues[op]:
                    return self._queues[op].popleft()
        return None


async def stall(request: Request, seconds: float) -> bool:
    """Answer late; False if the client gave up meanwhile (the request is then dropped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(0.02)
    return True


# A 200 whose body is not the cloud's answer (an empty body, a proxy's HTML page): adapters
# must treat it as a transient failure, never as "instance gone". Fakes that serve them opt in.
BODY_FAULTS = frozenset({"empty_200", "html_200"})
BODY_FAULT_OPS = ("get", "list", "terminate")


class BodyFaultQueue:
    """``empty_200``/``html_200`` armed per op; taken by the routes like :class:`FaultQueue`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[str]] = {op: deque() for op in BODY_FAULT_OPS}

    def arm(self, op: str, fault: str, times: int = 1) -> None:
        if op not in BODY_FAULT_OPS:
            raise ValueError(f"fault {fault!r} applies to {', '.join(BODY_FAULT_OPS)}, not {op!r}")
        with self._lock:
            self._queues[op].extend([fault] * times)

    def take(self, *ops: str) -> str | None:
        with self._lock:
            for op in ops:
                if self._queues.get(op):
                    return self._queues[op].popleft()
        return None
