"""Run the real server as a separate process (the way users run it) for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.http_server import free_port
from tests.support import stop_process, wait_for_sync


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "HARVESTGPU_SECRET_KEY": "e2e-master-secret",
            "HARVESTGPU_MONITOR_INTERVAL_S": "0.2",
            "HARVESTGPU_MOCK_BOOT_SECONDS": "0.5",
            "HARVESTGPU_LOG_LEVEL": "info",
            "HARVESTGPU_RATE_LIMIT_ENABLED": "false",  # limits have their own tests
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, no_workers: bool = False) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        code = (
            "from harvestgpu.server.cli_commands import server; "
            f"server('127.0.0.1', {self.port}, {str(self.data_dir)!r}, {no_workers})"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=self.env, stdout=log, stderr=log)
        wait_for_sync(self._healthy, timeout=30, what=f"server on {self.base_url} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log_text()[-3000:]}")
        try:
            return httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kw)


class WorkerProcess:
    """`harvestgpu worker`: the job engine, sweeps and deliveries without the API."""

    def __init__(self, data_dir: Path, env: dict[str, str], name: str) -> None:
        self.log_path = data_dir.parent / f"worker-{name}.log"
        code = f"from harvestgpu.server.cli_commands import worker; worker({str(data_dir)!r})"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], env={**os.environ, **env}, stdout=log, stderr=log
        )

    def stop(self) -> None:
        stop_process(self.proc)
