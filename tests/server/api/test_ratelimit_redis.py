"""With Redis, two API server processes share one count per user (the scale-out deployment).

Needs HARVESTGPU_TEST_REDIS_URL; CI sets it, and there this module fails rather than skips
when it is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.http_server import free_port
from tests.support import REDIS_URL_ENV, data, error, wait_for_sync

REDIS_URL = os.environ.get(REDIS_URL_ENV)
if os.environ.get("CI") and not REDIS_URL:
    raise RuntimeError(f"CI must set {REDIS_URL_ENV}: the Redis rate-limit tests may not be skipped there")

# `harvestgpu server --no-workers --port PORT --data-dir DIR`, without depending on the CLI package.
SERVE = (
    "import sys; from harvestgpu.server.cli_commands import server; "
    "server('127.0.0.1', int(sys.argv[1]), sys.argv[2], True)"
)
pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.skipif(not REDIS_URL, reason=f"{REDIS_URL_ENV} is not set"),
]


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
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_server_processes_share_the_per_minute_count(tmp_path: Path) -> None:
    prefix = f"hg-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "servers.log"
    with (
        api_process(tmp_path / "data", log, prefix) as first,
        api_process(tmp_path / "data", log, prefix) as second,
    ):
        body = {"email": f"shared-{uuid.uuid4().hex[:6]}@example.com", "password": "correct-horse"}
        key = data(httpx.post(first + "/api/v1/auth/register", json=body, timeout=10), 201)["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        for n in range(60):
            server = first if n % 2 == 0 else second
            response = httpx.get(server + "/api/v1/jobs", headers=headers, timeout=10)
            data(response)
            assert response.headers["RateLimit-Remaining"] == str(59 - n)
        for server in (first, second):
            limited = httpx.get(server + "/api/v1/jobs", headers=headers, timeout=10)
            assert "60 requests per minute" in error(limited, 429)
            assert limited.headers["RateLimit-Limit"] == "60" and int(limited.headers["Retry-After"]) >= 1


async def test_jobs_per_hour_and_refunds_work_on_redis(api_factory: Any) -> None:
    prefix = f"hg-test-{uuid.uuid4().hex[:8]}"
    async with api_factory(rate_limit_enabled=True, redis_url=REDIS_URL, redis_key_prefix=prefix) as api:
        user = await api.register()
        for _ in range(3):  # refused submits give their slot back
            error(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "NOPE"}), 400)
        for _ in range(10):
            data(await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "T4"}), 201)
        limited = await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "T4"})
    assert "10 jobs per hour" in error(limited, 429)
    assert limited.headers["RateLimit-Remaining"] == "0"
