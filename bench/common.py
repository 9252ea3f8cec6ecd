"""Shared bench helpers: start a server process, run wrk, parse its figures."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_harvestgpu(env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="hg-bench-"))
    code = (
        "from harvestgpu.server.cli_commands import server; "
        f"server('127.0.0.1', {port}, {str(data_dir)!r}, False)"
    )
    full_env = {
        **os.environ,
        "HARVESTGPU_LOG_LEVEL": "warning",
        "HARVESTGPU_SECRET_KEY": "bench",
        **(env or {}),
    }
    proc = subprocess.Popen([sys.executable, "-c", code], env=full_env)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url + "/healthz")
    return proc, url, data_dir


def stop(proc: subprocess.Popen[bytes], data_dir: Path | None = None) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


def wrk(url: str, headers: dict[str, str] | None = None, seconds: int = 8, connections: int = 50) -> float:
    """Requests per second measured by wrk (2 threads)."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed responses from {url}:\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert m, out
    return float(m.group(1))
