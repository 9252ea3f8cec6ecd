"""200 jobs submitted at once on the mock cloud: time until all are `running`, and submit latency.

Run: .venv/bin/python -m bench.bench_engine
One server process on SQLite with default engine settings (mock boot time 2 s, so ~2 s is the
floor). Rate limits are off for this run: they would refuse the 11th job of a free account.
Goal: all 200 running within 5 s. Baseline in the same run: the time a single job takes from
submit to running, which is the latency floor the 200 are compared with.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.common import start_harvestgpu, stop

JOBS = 200


async def submit_all(url: str, auth: dict[str, str], n: int) -> tuple[list[str], list[float]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60, limits=limits) as http:

        async def one(i: int) -> tuple[str, float]:
            t = time.perf_counter()
            r = await http.post("/api/v1/jobs", json={"gpu": "H100", "command": f"python train.py --run {i}"})
            r.raise_for_status()
            return r.json()["data"]["id"], time.perf_counter() - t

        results = await asyncio.gather(*(one(i) for i in range(n)))
    return [r[0] for r in results], [r[1] for r in results]


async def wait_running(url: str, auth: dict[str, str], n: int, start: float) -> float:
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http:
        while True:
            running = (await http.get("/api/v1/jobs?status=running&limit=1")).json()["data"]["total"]
            if running >= n:
                return time.perf_counter() - start
            if time.perf_counter() - start > 120:
                raise RuntimeError(f"only {running}/{n} running after 120 s")
            await asyncio.sleep(0.05)


async def run(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        reg = await http.post(
            "/api/v1/auth/register", json={"email": "e@example.com", "password": "password1"}
        )
        auth = {"Authorization": f"Bearer {reg.json()['data']['api_key']}"}
    t0 = time.perf_counter()
    await submit_all(url, auth, 1)
    single = await wait_running(url, auth, 1, t0)
    start = time.perf_counter()
    _ids, latencies = await submit_all(url, auth, JOBS)
    all_running = await wait_running(url, auth, JOBS + 1, start)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"one job, submit -> running      : {single:6.2f} s (baseline)")
    ratio = all_running / single
    print(f"{JOBS} jobs, submit -> all running : {all_running:6.2f} s  ratio {ratio:.2f}  (goal <= 5 s)")
    print(f"submit latency p50 / p99        : {p50 * 1000:6.0f} / {p99 * 1000:.0f} ms")


def main() -> None:
    proc, url, data_dir = start_harvestgpu(
        {"HARVESTGPU_RATE_LIMIT_ENABLED": "false", "HARVESTGPU_MOCK_JOB_SECONDS": "600"}
    )
    try:
        asyncio.run(run(url))
    finally:
        stop(proc, data_dir)


if __name__ == "__main__":
    main()
