"""With Redis, two API server processes share one count per user (the scale-out deployment).

Needs HARVESTGPU_TEST_REDIS_URL; CI sets it, and there this module fails rather than skips
when it is missing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.redis_processes import REDIS_URL, register, two_api_processes
from tests.support import REDIS_URL_ENV, data, error

if os.environ.get("CI") and not REDIS_URL:
    raise RuntimeError(f"CI must set {REDIS_URL_ENV}: the Redis rate-limit tests may not be skipped there")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.e2e,
    pytest.mark.skipif(not REDIS_URL, reason=f"{REDIS_URL_ENV} is not set"),
]


def test_two_server_processes_share_the_per_minute_count(tmp_path: Path) -> None:
    with two_api_processes(tmp_path) as (first, second):
        headers = register(first, "shared")
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
