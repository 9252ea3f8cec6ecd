"""The VM boot script, run for real by bash: stand-ins for docker, nvidia-ctk, systemctl, apt-get
and NVIDIA's repository execute it, and the script must post every log line and the exit code to
the agent endpoints with the job's token, after making sure docker has the NVIDIA runtime."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.agent_script import BOOTSTRAP_EXIT_CODE, agent_script, parse_agent_vars
from harvestgpu.providers.types import AgentConfig, LaunchSpec, Offer
from tests.fakes.http_server import serve_app

# Stand-in for docker: `info` lists the nvidia runtime once it is configured, `pull` succeeds,
# `run ... IMAGE ARGS...` runs ARGS with the -e variables.
DOCKER_SHIM = """#!/bin/bash
echo "docker $1" >>{calls}
case "$1" in
  info) if [ -f {state}/nvidia ]; then echo '{{"nvidia":{{"path":"nvidia-container-runtime"}},"runc":{{}}}}';
        else echo '{{"runc":{{"path":"runc"}}}}'; fi ;;
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
       exec env "${{envs[@]}}" "$@" ;;
esac
"""
NVIDIA_CTK_SHIM = """#!/bin/bash
echo "nvidia-ctk $*" >>{calls}
[ "$*" = "runtime configure --runtime=docker" ] && touch {state}/nvidia
"""
RECORDING_SHIM = """#!/bin/bash
echo "{name} $*" >>{calls}
"""
# apt-get "installs" nvidia-ctk when the image's sources have the toolkit, else fails.
APT_GET_SHIM = """#!/bin/bash
echo "apt-get $*" >>{calls}
case "$*" in
  *"install nvidia-container-toolkit"*)
    [ -f {state}/apt-has-toolkit ] || {{ echo "E: Unable to locate package"; exit 100; }}
    cp {state}/nvidia-ctk {bin}/nvidia-ctk ;;
esac
"""
# NVIDIA's repository is unreachable from the test; any other URL (the agent's) is real.
CURL_SHIM = """#!/bin/bash
case "$*" in *nvidia.github.io*) echo "curl nvidia.github.io" >>{calls}; exit 22 ;; esac
exec /usr/bin/curl "$@"
"""
GPG_SHIM = """#!/bin/bash
echo "gpg $*" >>{calls}
exit 2
"""


@dataclass
class Vm:
    """A stand-in VM: a bin directory of shims that record what the script asked of them."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def calls_file(self) -> Path:
        return self.root / "calls"

    def install(self, name: str, template: str) -> Path:
        path = self.bin / name
        path.write_text(template.format(calls=self.calls_file, state=self.state, bin=self.bin, name=name))
        path.chmod(0o755)
        return path

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    def tool_calls(self) -> list[str]:
        """What the bootstrap ran, without docker's own (info/pull/run) calls."""
        return [c for c in self.calls() if not c.startswith("docker ")]


def make_vm(tmp_path: Path, *, runtime: bool = True, ctk: bool = False, apt_has_toolkit: bool = False) -> Vm:
    vm = Vm(tmp_path)
    vm.bin.mkdir()
    vm.state.mkdir()
    vm.install("docker", DOCKER_SHIM)
    vm.install("systemctl", RECORDING_SHIM)
    vm.install("apt-get", APT_GET_SHIM)
    vm.install("curl", CURL_SHIM)
    vm.install("gpg", GPG_SHIM)
    (vm.state / "nvidia-ctk").write_text(
        NVIDIA_CTK_SHIM.format(calls=vm.calls_file, state=vm.state, bin=vm.bin)
    )
    (vm.state / "nvidia-ctk").chmod(0o755)
    if runtime:
        (vm.state / "nvidia").touch()
    if ctk:
        vm.install("nvidia-ctk", NVIDIA_CTK_SHIM)
    if apt_has_toolkit:
        (vm.state / "apt-has-toolkit").touch()
    return vm


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


def _run(script: str, vm: Vm) -> None:
    env = {
        "PATH": f"{vm.bin}:/usr/bin:/bin",
        "TMPDIR": str(vm.root),
        "HARVESTGPU_LOG_FILE": str(vm.root / "job.log"),
        "HARVESTGPU_LOG_INTERVAL_S": "0.2",
    }
    # The timeout is the test's guard against a bootstrap that hangs instead of failing.
    subprocess.run(["bash", "-c", script], env=env, check=False, timeout=60)


def _boot(vm: Vm, command: str = 'echo "$GREETING"; echo second line; exit 4') -> list[tuple[str, str, Any]]:
    posts: list[tuple[str, str, Any]] = []
    with serve_app(_receiver(posts)) as base_url:
        _run(agent_script(_spec(command, base_url)), vm)
    return posts


def _logged(posts: list[tuple[str, str, Any]]) -> list[str]:
    return [line for path, _, body in posts if path.endswith("/logs") for line in body["lines"]]


def test_boot_script_posts_logs_and_exit_code(tmp_path: Path) -> None:
    vm = make_vm(tmp_path)

    posts = _boot(vm)

    assert all(auth == "Bearer tok-abc123" for _, auth, _ in posts)
    lines = _logged(posts)
    assert "hello world" in lines and "second line" in lines
    assert posts[-1][0] == "/api/v1/agent/jobs/abc123/exit" and posts[-1][2] == {"exit_code": 4}
    # docker already has the nvidia runtime: the bootstrap changes nothing.
    assert vm.tool_calls() == []


def test_bootstrap_configures_the_nvidia_runtime_once_with_an_existing_nvidia_ctk(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, runtime=False, ctk=True)

    first = _boot(vm, "echo ran")
    after_first = vm.tool_calls()
    second = _boot(vm, "echo ran")

    assert after_first == ["nvidia-ctk runtime configure --runtime=docker", "systemctl restart docker"]
    assert vm.tool_calls() == after_first  # idempotent: a second boot finds it configured
    for posts in (first, second):
        assert "ran" in _logged(posts) and posts[-1][2] == {"exit_code": 0}


def test_bootstrap_installs_the_toolkit_from_the_images_sources_when_nvidia_ctk_is_missing(
    tmp_path: Path,
) -> None:
    vm = make_vm(tmp_path, runtime=False, apt_has_toolkit=True)

    posts = _boot(vm, "echo ran")

    calls = vm.tool_calls()
    assert [c for c in calls if c.startswith("apt-get")] == [
        "apt-get -y -q -o DPkg::Lock::Timeout=120 update",
        "apt-get -y -q -o DPkg::Lock::Timeout=120 install nvidia-container-toolkit",
    ]
    assert calls[-2:] == ["nvidia-ctk runtime configure --runtime=docker", "systemctl restart docker"]
    assert "curl nvidia.github.io" not in calls
    assert "ran" in _logged(posts) and posts[-1][2] == {"exit_code": 0}


def test_bootstrap_that_cannot_get_the_toolkit_reports_a_failure_and_runs_nothing(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, runtime=False)

    posts = _boot(vm, "echo must-not-run")

    calls = vm.calls()
    # It tried the image's sources, then NVIDIA's repository, then gave up.
    assert "curl nvidia.github.io" in calls
    assert not any(c.startswith(("nvidia-ctk", "systemctl", "docker pull", "docker run")) for c in calls)
    lines = _logged(posts)
    assert (
        "harvestgpu: bootstrap failed: could not install nvidia-container-toolkit (needed for docker --gpus)"
        in lines
    )
    assert "E: Unable to locate package" in lines  # the tail of the bootstrap's own output
    assert "must-not-run" not in lines
    assert posts[-1][0].endswith("/exit") and posts[-1][2] == {"exit_code": BOOTSTRAP_EXIT_CODE}
    assert all(auth == "Bearer tok-abc123" for _, auth, _ in posts)


@pytest.mark.parametrize("step", ["nvidia-ctk", "systemctl"])
def test_a_failing_configure_step_is_reported_too(tmp_path: Path, step: str) -> None:
    vm = make_vm(tmp_path, runtime=False, ctk=True)
    vm.install(step, f'#!/bin/bash\necho "{step} $*" >>{{calls}}\nexit 1\n')

    posts = _boot(vm, "echo must-not-run")

    lines = _logged(posts)
    assert any(line.startswith("harvestgpu: bootstrap failed:") for line in lines)
    assert "must-not-run" not in lines
    assert posts[-1][2] == {"exit_code": BOOTSTRAP_EXIT_CODE}


def test_boot_script_carries_no_provider_key_and_exposes_its_agent_vars() -> None:
    script = agent_script(_spec("python train.py", "https://hg.example.com"))
    assert parse_agent_vars(script) == {
        "HG_JOB_ID": "abc123",
        "HG_AGENT_URL": "https://hg.example.com",
        "HG_AGENT_TOKEN": "tok-abc123",
    }
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    # The bootstrap runs before the image is pulled, with NVIDIA's documented apt repository.
    assert script.index("ensure_nvidia_runtime\n") < script.index("docker pull")
    assert "https://nvidia.github.io/libnvidia-container" in script
