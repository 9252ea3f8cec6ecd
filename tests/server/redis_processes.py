"""Real `harvestgpu server --no-workers` processes sharing one SQLite file and Redis: the
scale-out deployment, for the tests of what those processes must share."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.fakes.http_server import free_port
from tests.support import REDIS_URL_ENV, data, stop_process, wait_for_sync

REDIS_URL = os.environ.get(REDIS_URL_ENV)

# `harvestgpu server --no-workers --port PORT --data-dir DIR`, without depending on the CLI package.
SERVE = (
    "import sys; from harvestgpu.server.cli_commands import server; "
    "server('127.0.0.1', int(sys.argv[1]), sys.argv[2], True)"
)


@contextmanager
def api_process(data_dir: Path, log: Path, key_prefix: str) -> Iterator[str]:
    """`harvestgpu server --no-workers` in its own process, sharing the SQLite file and Redis."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARVESTGPU_")}
    env.update(
        HARVESTGPU_REDIS_URL=str(REDIS_URL),
        HARVESTGPU_REDIS_KEY_PREFIX=key_prefix,
        HARVESTGPU_RATE_LIMIT_ENABLED="true",
        HARVESTGPU_SECRET_KEY="shared-test-secret",
        HARVESTGPU_LOG_LEVEL="warning",
    )
    with log.open("ab") as out:
        command = [sys.executable, "-c", SERVE, str(port), str(data_dir)]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_sync(lambda: proc.poll() is not None or _ready(base), timeout=30, what=f"server on {port}")
        assert proc.poll() is None, log.read_text()[-3000:]
        yield base
    finally:
        stop_process(proc)


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def two_api_processes(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two API processes on one data dir and one Redis key prefix of their own."""
    prefix = f"hg-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "servers.log"
    with (
        api_process(tmp_path / "data", log, prefix) as first,
        api_process(tmp_path / "data", log, prefix) as second,
    ):
        yield first, second


def register(base: str, name: str) -> dict[str, str]:
    """A new account; the Authorization header of its API key."""
    body = {"email": f"{name}-{uuid.uuid4().hex[:6]}@example.com", "password": "correct-horse"}
    key = data(httpx.post(base + "/api/v1/auth/register", json=body, timeout=10), 201)["api_key"]
    return {"Authorization": f"Bearer {key}"}
