"""What every fake cloud keeps besides its own catalog and instances.

A fake is served by ``serve_app(fake.app())`` on uvicorn's thread while the test scripts it from
its own, so all state is guarded by ``_lock``. The bookkeeping here (API key, requests seen,
launch bodies, deletions, scripted faults) is cloud-neutral; auth schemes, error bodies and
status codes stay with each cloud's routes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx
from starlette.requests import Request

from harvestgpu.providers.agent_script import parse_agent_vars
from tests.fakes.faults import FaultQueue


class FakeCloud:
    slug: ClassVar[str]
    launch_only_faults: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.launch_bodies: list[dict[str, Any]] = []
        self.requests_seen: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._faults = FaultQueue(launch_only=self.launch_only_faults)
        self._deleted: set[str] = set()
        self._app: Any = None

    def app(self) -> Any:
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        self._faults.arm(op, fault, times, delay_s)

    def instances(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {iid: copy.deepcopy(record) for iid, record in self._live_records()}

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    # ---- for subclasses ----------------------------------------------------------------------

    def _build_app(self) -> Any:
        raise NotImplementedError

    def _live_records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """(id, record) of each instance ``instances()`` shows; called with the lock held."""
        raise NotImplementedError

    def _record_request(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests_seen.append((method, path, headers))

    def _record(self, request: Request) -> None:
        self._record_request(request.method, request.url.path, dict(request.headers))

    def _keep_launch_body(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.launch_bodies.append(copy.deepcopy(body))


def bearer_matches(request: Request, api_key: str) -> bool:
    return request.headers.get("authorization") == f"Bearer {api_key}"


def play_agent(posts: list[tuple[str, int]], script: str, exit_code: int, lines: list[str]) -> None:
    """Do what a VM's boot-script agent does when its workload ends: POST the logs, then the exit.

    VM clouds (Lambda, TensorDock) have no log API, so their fakes play the agent. Appends
    (path, status) per POST to ``posts``; posts nothing if the script names no agent URL.
    """
    agent = parse_agent_vars(script)
    url = agent.get("HG_AGENT_URL", "")
    if not url:
        return
    base = f"{url.rstrip('/')}/api/v1/agent/jobs/{agent.get('HG_JOB_ID', '')}"
    headers = {"Authorization": f"Bearer {agent.get('HG_AGENT_TOKEN', '')}"}
    with httpx.Client(timeout=10) as http:
        for suffix, body in (("logs", {"lines": lines}), ("exit", {"exit_code": exit_code})):
            response = http.post(f"{base}/{suffix}", json=body, headers=headers)
            posts.append((httpx.URL(f"{base}/{suffix}").path, response.status_code))
