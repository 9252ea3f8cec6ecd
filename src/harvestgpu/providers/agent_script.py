"""The boot script VM clouds (Lambda, TensorDock) run: the job's container plus a log agent.

VM clouds have no log API and report no exit code, so the script runs the container, posts
its output in batches and finally its exit code to HarvestGPU's agent endpoints:

    POST {HG_AGENT_URL}/api/v1/agent/jobs/{job_id}/logs   {"lines": ["...", ...]}
    POST {HG_AGENT_URL}/api/v1/agent/jobs/{job_id}/exit   {"exit_code": 0}

each with ``Authorization: Bearer {HG_AGENT_TOKEN}`` (a token valid for that one job only).
The user's provider key is never part of the script. Without an AgentConfig (no
HARVESTGPU_PUBLIC_URL) the container still runs; state then comes from instance status only.

The first lines define ``HG_JOB_ID=``, ``HG_AGENT_URL=`` and ``HG_AGENT_TOKEN=`` exactly so,
one per line, which the fake clouds in the test suite read to play the agent's part.

Before the container runs, an idempotent bootstrap makes sure docker has NVIDIA's runtime:
whether Lambda Stack or TensorDock images ship it configured is UNCONFIRMED
(lambda-tensordock.md 1.7), so, like dstack, it installs ``nvidia-container-toolkit`` when
missing (from the image's apt sources, else NVIDIA's documented repository) and runs
``nvidia-ctk runtime configure --runtime=docker``. Every step is time-bounded; a failure is
reported like a failed command: a ``harvestgpu:`` log line, then exit code
``BOOTSTRAP_EXIT_CODE``, and the container never starts.
"""

from __future__ import annotations

import shlex

from harvestgpu.providers.types import LaunchSpec
from harvestgpu.providers.wrap import EXIT_SENTINEL

# What `docker run` itself exits with when docker fails: the same meaning for the user.
BOOTSTRAP_EXIT_CODE = 125

# Shell functions; `fail`, `ship_logs` and `post` come from the script around it. Output of
# the steps goes to $BOOT_LOG, whose tail `fail` copies into the job's log.
_BOOTSTRAP = r"""
export DEBIAN_FRONTEND=noninteractive
NVIDIA_REPO=https://nvidia.github.io/libnvidia-container
apt_get() {
  timeout 600 apt-get -y -q -o DPkg::Lock::Timeout=120 "$@" >>"$BOOT_LOG" 2>&1
}
nvidia_runtime() {
  timeout 30 docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"nvidia"'
}
add_nvidia_repo() {
  local keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg dir
  dir=$(mktemp -d) &&
    curl -fsSL -m 60 "$NVIDIA_REPO/gpgkey" -o "$dir/gpgkey" &&
    curl -fsSL -m 60 "$NVIDIA_REPO/stable/deb/nvidia-container-toolkit.list" -o "$dir/list" &&
    gpg --batch --yes --dearmor -o "$keyring" "$dir/gpgkey" &&
    sed "s#deb https://#deb [signed-by=$keyring] https://#g" "$dir/list" \
      >/etc/apt/sources.list.d/nvidia-container-toolkit.list
} >>"$BOOT_LOG" 2>&1
ensure_docker() {
  command -v docker >/dev/null && return 0
  { apt_get update && apt_get install docker.io; } || fail "could not install docker"
}
ensure_nvidia_runtime() {
  nvidia_runtime && return 0
  if ! command -v nvidia-ctk >/dev/null; then
    { apt_get update && apt_get install nvidia-container-toolkit; } ||
      { add_nvidia_repo && apt_get update && apt_get install nvidia-container-toolkit; } ||
      fail "could not install nvidia-container-toolkit (needed for docker --gpus)"
  fi
  timeout 60 nvidia-ctk runtime configure --runtime=docker >>"$BOOT_LOG" 2>&1 ||
    fail "nvidia-ctk could not add the nvidia runtime to docker"
  timeout 120 systemctl restart docker >>"$BOOT_LOG" 2>&1 || fail "docker did not restart"
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    nvidia_runtime && return 0
    sleep 3
  done
  fail "docker lists no nvidia runtime after configuring it"
}
"""


def _docker_env_flags(env: dict[str, str]) -> str:
    return " ".join(f"-e {shlex.quote(f'{k}={v}')}" for k, v in sorted(env.items()))


def agent_script(spec: LaunchSpec) -> str:
    """A bash script for cloud-init ``user_data`` / ``runcmd``."""
    env = dict(spec.env)
    env["HARVESTGPU_JOB_ID"] = spec.job_id
    gpus = "all"
    user_cmd = spec.command if spec.command and spec.command.strip() else ""
    cmd_args = f"sh -c {shlex.quote(user_cmd)}" if user_cmd else ""
    agent_url = spec.agent.base_url.rstrip("/") if spec.agent else ""
    token = spec.agent.token if spec.agent else ""
    return f"""#!/bin/bash
HG_JOB_ID={shlex.quote(spec.job_id)}
HG_AGENT_URL={shlex.quote(agent_url)}
HG_AGENT_TOKEN={shlex.quote(token)}
set -u
LOG=${{HARVESTGPU_LOG_FILE:-/var/log/harvestgpu-job.log}}
TO_JSON='import json,sys; print(json.dumps({{"lines": sys.stdin.read().splitlines()}}))'
post() {{
  [ -n "$HG_AGENT_URL" ] || return 0
  curl -fsS -m 20 --retry 5 --retry-all-errors -X POST \\
    -H "Authorization: Bearer $HG_AGENT_TOKEN" -H 'Content-Type: application/json' \\
    --data-binary @- "$HG_AGENT_URL/api/v1/agent/jobs/$HG_JOB_ID/$1" >/dev/null || true
}}
ship_logs() {{
  # Send lines appended since the last call, as a JSON array built by python3 (on every image).
  local start=$(( ${{SHIPPED:-0}} + 1 ))
  local total=$(wc -l < "$LOG")
  [ "$total" -ge "$start" ] || return 0
  sed -n "${{start}},${{total}}p" "$LOG" | python3 -c "$TO_JSON" | post logs
  SHIPPED=$total
}}
fail() {{
  {{ echo "harvestgpu: bootstrap failed: $1"; tail -n 20 "$BOOT_LOG" 2>/dev/null; }} >>"$LOG"
  ship_logs
  echo "{EXIT_SENTINEL}{BOOTSTRAP_EXIT_CODE}" >>"$LOG"
  printf '{{"exit_code": %d}}' {BOOTSTRAP_EXIT_CODE} | post exit
  exit 1
}}
{_BOOTSTRAP}
touch "$LOG"
BOOT_LOG="$LOG.bootstrap"
ensure_docker
ensure_nvidia_runtime
docker pull {shlex.quote(spec.image)} >>"$LOG" 2>&1
docker run --name {shlex.quote(spec.name)} --gpus {gpus} {_docker_env_flags(env)} \\
  {shlex.quote(spec.image)} {cmd_args} >>"$LOG" 2>&1 &
RUN_PID=$!
while kill -0 $RUN_PID 2>/dev/null; do ship_logs; sleep "${{HARVESTGPU_LOG_INTERVAL_S:-5}}"; done
wait $RUN_PID; RC=$?
ship_logs
echo "{EXIT_SENTINEL}$RC" >>"$LOG"
printf '{{"exit_code": %d}}' "$RC" | post exit
"""


def parse_agent_vars(script: str) -> dict[str, str]:
    """Read HG_JOB_ID / HG_AGENT_URL / HG_AGENT_TOKEN back out of a script (used by fakes)."""
    out: dict[str, str] = {}
    for line in script.splitlines():
        for var in ("HG_JOB_ID", "HG_AGENT_URL", "HG_AGENT_TOKEN"):
            if line.startswith(var + "="):
                parts = shlex.split(line[len(var) + 1 :]) or [""]
                out[var] = parts[0]
    return out
