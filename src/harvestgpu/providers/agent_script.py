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
"""

from __future__ import annotations

import shlex

from harvestgpu.providers.types import LaunchSpec
from harvestgpu.providers.wrap import EXIT_SENTINEL


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
command -v docker >/dev/null || (apt-get update -y && apt-get install -y docker.io)
touch "$LOG"
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
