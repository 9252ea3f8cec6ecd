"""A real webhook receiver on 127.0.0.1 that records what the server POSTs, and the docs' verifier."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from harvestgpu import HarvestGPU
from harvestgpu.sdk import WebhookDelivery
from tests.fakes.http_server import serve_app

T = TypeVar("T")

DELIVERY_DEADLINE_S = 15.0
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class ReceivedEvent:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers every POST with 200 and keeps each request's headers and raw body."""

    def __init__(self) -> None:
        self.url = ""
        self._events: list[ReceivedEvent] = []
        self._lock = threading.Lock()

    @property
    def events(self) -> list[ReceivedEvent]:
        with self._lock:
            return list(self._events)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        with self._lock:
            self._events.append(ReceivedEvent(headers, body))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def wait_for_events(self, count: int) -> list[ReceivedEvent]:
        """The first ``count`` requests, once they have arrived (AssertionError after the deadline)."""
        return wait_until(lambda: self.events if len(self.events) >= count else None, f"{count} deliveries")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_app(receiver) as base_url:
        receiver.url = f"{base_url}/hook"
        yield receiver


def wait_until(probe: Callable[[], T | None], what: str, deadline_s: float = DELIVERY_DEADLINE_S) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {deadline_s} s")
        time.sleep(POLL_INTERVAL_S)


def signature_is_valid(secret: str, event: ReceivedEvent) -> bool:
    """docs/webhooks.md's check: HMAC-SHA256 of "{timestamp}.{raw body}" with the secret."""
    timestamp = event.headers.get("x-harvestgpu-timestamp", "")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + event.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(event.headers.get("x-harvestgpu-signature", ""), "v1=" + expected)


def latest_if_delivered(gpu: HarvestGPU, webhook_id: str) -> WebhookDelivery | None:
    """The webhook's newest delivery once the server has recorded it as delivered, else None."""
    newest = next(iter(gpu.webhooks.deliveries(webhook_id, limit=1)), None)
    return newest if newest is not None and newest.status == "delivered" else None
