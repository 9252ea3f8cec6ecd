"""A real HTTP endpoint that receives webhooks: records every request, answers scripted statuses."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.http_server import serve_app


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        """What docs/webhooks.md tells receivers to do."""
        timestamp = self.headers["x-harvestgpu-timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest("v1=" + expected, self.headers["x-harvestgpu-signature"])


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order; then 200
    hold: threading.Event | None = None  # while set-able and not set, requests hang

    def answer_next(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    async def _endpoint(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        self.requests.append(Received(dict(request.headers), body))
        while self.hold is not None and not self.hold.is_set():
            await asyncio.sleep(0.01)
        status = self.statuses.pop(0) if self.statuses else 200
        return PlainTextResponse("ok" if status < 300 else "nope", status_code=status)


@contextmanager
def webhook_receiver(*, hold: threading.Event | None = None) -> Iterator[Receiver]:
    receiver = Receiver(hold=hold)
    app = Starlette(routes=[Route("/hook", receiver._endpoint, methods=["POST"])])
    with serve_app(app) as base:
        receiver.url = base + "/hook"
        yield receiver
