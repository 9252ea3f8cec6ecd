"""Authenticated GET /api/v1/jobs/{id} throughput vs a bare FastAPI endpoint, same load generator.

Run: .venv/bin/python -m bench.bench_api   (needs wrk). Both servers are one uvicorn process
with the same settings; the figure that matters is the ratio (goal >= 0.5).
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from bench.common import free_port, start_harvestgpu, stop, wait_healthy, wrk


def main(seconds: int = 8) -> None:
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port), "--log-level", "warning"]
    )
    # Plan limits would answer 429 within the first second of wrk (the free plan allows 60 a
    # minute), so they are off here; the limiter's own cost is ~10 us per request in memory.
    proc = None
    try:
        proc, url, data_dir = start_harvestgpu(
            {"HARVESTGPU_MOCK_JOB_SECONDS": "1", "HARVESTGPU_RATE_LIMIT_ENABLED": "false"}
        )
        wait_healthy(f"http://127.0.0.1:{port}/const")
        reg = httpx.post(
            f"{url}/api/v1/auth/register", json={"email": "bench@example.com", "password": "benchpass"}
        )
        headers = {"Authorization": f"Bearer {reg.json()['data']['api_key']}"}
        job = httpx.post(f"{url}/api/v1/jobs", headers=headers, json={"gpu": "H100"}).json()["data"]
        for _ in range(100):
            if (
                httpx.get(f"{url}/api/v1/jobs/{job['id']}", headers=headers).json()["data"]["status"]
                == "completed"
            ):
                break
            time.sleep(0.1)
        wrk(f"{url}/api/v1/jobs/{job['id']}", headers, seconds=2)  # warm up
        baseline = wrk(f"http://127.0.0.1:{port}/const", seconds=seconds)
        ours = wrk(f"{url}/api/v1/jobs/{job['id']}", headers, seconds=seconds)
        baseline2 = wrk(f"http://127.0.0.1:{port}/const", seconds=seconds)
    finally:
        bare.terminate()
        if proc is not None:
            stop(proc, data_dir)
    base = (baseline + baseline2) / 2
    print(f"bare FastAPI constant JSON : {base:9.0f} req/s (runs: {baseline:.0f}, {baseline2:.0f})")
    print(f"GET /api/v1/jobs/{{id}} auth: {ours:9.0f} req/s")
    print(f"ratio                      : {ours / base:9.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    main()
