"""/api/v1/pricing with four connected clouds that each take 300 ms to answer.

Run: .venv/bin/python -m bench.bench_pricing
Cold: the first request of a fresh account (nothing cached) as a ratio to the slowest cloud's
answer time (goal <= 1.1: the clouds are asked concurrently). Warm: cached offers (goal p50 <= 5 ms).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import ExitStack
from typing import Any

import httpx
from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import serve_app

from bench.common import start_harvestgpu, stop

DELAY_S = 0.3


def slow(app: Any, delay_s: float) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(delay_s)
        await app(scope, receive, send)

    return wrapped


def main(cold_samples: int = 5, warm_samples: int = 300) -> None:
    fakes = {slug: cls() for slug, cls in FAKE_CLOUDS.items()}
    with ExitStack() as stack:
        env = {
            f"HARVESTGPU_{s.upper()}_API_URL": stack.enter_context(serve_app(slow(f.app(), DELAY_S)))
            for s, f in fakes.items()
        }
        proc, url, data_dir = start_harvestgpu({**env, "HARVESTGPU_PRICE_TTL_S": "600"})
        try:
            cold: list[float] = []
            warm: list[float] = []
            with httpx.Client(base_url=url, timeout=30) as http:
                for n in range(cold_samples):
                    reg = http.post(
                        "/api/v1/auth/register", json={"email": f"p{n}@example.com", "password": "password1"}
                    )
                    auth = {"Authorization": f"Bearer {reg.json()['data']['api_key']}"}
                    for slug, fake in fakes.items():
                        http.post(
                            "/api/v1/providers/keys",
                            headers=auth,
                            json={"provider": slug, "api_key": fake.api_key},
                        )
                    t = time.perf_counter()
                    body = http.get("/api/v1/pricing", headers=auth).json()["data"]
                    cold.append(time.perf_counter() - t)
                    assert all(p["state"] == "ok" for p in body["providers"]), body["providers"]
                for _ in range(warm_samples):
                    t = time.perf_counter()
                    http.get("/api/v1/pricing", headers=auth)
                    warm.append(time.perf_counter() - t)
        finally:
            stop(proc, data_dir)
    cold_ms = statistics.median(cold) * 1000
    warm.sort()
    print(f"slowest cloud answers in    : {DELAY_S * 1000:7.0f} ms (every request to every fake)")
    ratio = cold_ms / (DELAY_S * 1000)
    p50, p99 = warm[len(warm) // 2] * 1000, warm[int(len(warm) * 0.99)] * 1000
    print(f"cold /pricing, median of {cold_samples}  : {cold_ms:7.0f} ms  -> ratio {ratio:.2f} (goal <= 1.1)")
    print(f"warm /pricing p50 / p99     : {p50:7.1f} / {p99:.1f} ms (goal p50 <= 5)")


if __name__ == "__main__":
    main()
