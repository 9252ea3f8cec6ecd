"""Start the real HarvestGPU server as a subprocess, the way a user would (`python -m harvestgpu server`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.http_server import free_port
from tests.support import stop_process

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 15.0
TEST_PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    data_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Account:
    email: str
    api_key: str


def server_environment() -> dict[str, str]:
    """The test process's environment, pinned to SQLite/in-memory and fast mock jobs."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HARVESTGPU_")}
    env["HARVESTGPU_MOCK_JOB_SECONDS"] = "5"
    env["HARVESTGPU_MOCK_BOOT_SECONDS"] = "0.5"  # jobs reach "running" sooner; nothing here times boots
    # Each test registers its own account; the per-address signup limit is not under test here.
    env["HARVESTGPU_REGISTER_RATE_LIMIT"] = "1000/minute"
    # Webhook tests deliver to a receiver on 127.0.0.1, which the server refuses by default.
    env["HARVESTGPU_WEBHOOK_ALLOW_PRIVATE"] = "true"
    return env


@contextmanager
def run_live_server(workdir: Path) -> Iterator[LiveServer]:
    """The server on a free port with a fresh data dir; stopped (and waited for) at exit."""
    port = free_port()
    data_dir = workdir / "data"
    log_path = workdir / "server.log"
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, log_path)
    command = [sys.executable, "-m", "harvestgpu", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=server_environment(), cwd=workdir
        )
        try:
            _wait_until_healthy(server, process)
            yield server
        finally:
            stop_process(process, STOP_DEADLINE_S)


def _wait_until_healthy(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {START_DEADLINE_S} s:\n{server.log_tail()}")


def register(server: LiveServer) -> Account:
    """A fresh account, created over plain HTTP (not through the code under test)."""
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/register",
        json={"email": email, "password": TEST_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return Account(email=email, api_key=response.json()["data"]["api_key"])
