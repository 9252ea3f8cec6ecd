"""The VM boot script, run for real by bash: a `docker` stand-in executes the command, and the
script must post every log line and the exit code to the agent endpoints with the job's token."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.agent_script import agent_script, parse_agent_vars
from harvestgpu.providers.types import AgentConfig, LaunchSpec, Offer
from tests.fakes.http_server import serve_app

DOCKER_SHIM = """#!/bin/bash
# Stand-in for docker: `pull` succeeds; `run ... IMAGE ARGS...` runs ARGS with the -e variables.
case "$1" in
  pull) echo "pulled $2"; exit 0 ;;
  run) shift
       envs=()
       while [ $# -gt 0 ]; do
         case "$1" in
           --name|--gpus) shift 2 ;;
           -e) envs+=("$2"); shift 2 ;;
           *) break ;;
         esac
       done
       shift  # the image
       exec env "${envs[@]}" "$@" ;;
esac
"""


def _receiver(posts: list[tuple[str, str, Any]]) -> Starlette:
    async def record(request: Request) -> JSONResponse:
        posts.append((request.url.path, request.headers.get("authorization", ""), await request.json()))
        return JSONResponse({"status": "ok", "data": {}})

    return Starlette(routes=[Route("/api/v1/agent/jobs/{job_id}/{kind}", record, methods=["POST"])])


def _spec(command: str, base_url: str) -> LaunchSpec:
    offer = Offer("lambda", "gpu_1x_h100_sxm5:us-east-1", "H100-SXM", 1, 80, 2.49, "us-east-1")
    return LaunchSpec(
        job_id="abc123",
        name="hg-abc123",
        offer=offer,
        image="pytorch/pytorch:latest",
        command=command,
        env={"GREETING": "hello world", "HARVESTGPU_JOB_ID": "abc123"},
        agent=AgentConfig(base_url, "tok-abc123"),
    )


def _run(script: str, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "docker"
    shim.write_text(DOCKER_SHIM)
    shim.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HARVESTGPU_LOG_FILE": str(tmp_path / "job.log"),
        "HARVESTGPU_LOG_INTERVAL_S": "0.2",
    }
    subprocess.run(["bash", "-c", script], env=env, check=True, timeout=60)


def test_boot_script_posts_logs_and_exit_code(tmp_path: Path) -> None:
    posts: list[tuple[str, str, Any]] = []
    with serve_app(_receiver(posts)) as base_url:
        script = agent_script(_spec('echo "$GREETING"; echo second line; exit 4', base_url))
        _run(script, tmp_path)
    assert all(auth == "Bearer tok-abc123" for _, auth, _ in posts)
    lines = [line for path, _, body in posts if path.endswith("/logs") for line in body["lines"]]
    assert "hello world" in lines and "second line" in lines
    assert posts[-1][0] == "/api/v1/agent/jobs/abc123/exit" and posts[-1][2] == {"exit_code": 4}


def test_boot_script_carries_no_provider_key_and_exposes_its_agent_vars() -> None:
    script = agent_script(_spec("python train.py", "https://hg.example.com"))
    assert parse_agent_vars(script) == {
        "HG_JOB_ID": "abc123",
        "HG_AGENT_URL": "https://hg.example.com",
        "HG_AGENT_TOKEN": "tok-abc123",
    }
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
