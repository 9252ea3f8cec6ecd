"""Wrapping the user's command so its exit code can be read from a cloud's log stream.

Container clouds restart a container whose command exits and none reports an exit code, so
the command runs under a small shell wrapper that prints a sentinel line with the code and
then idles until HarvestGPU terminates the instance.
"""

from __future__ import annotations

import re
import shlex

EXIT_SENTINEL = "HARVESTGPU_EXIT="
_SENTINEL_RE = re.compile(r"HARVESTGPU_EXIT=(-?\d+)\s*$")


def wrap_command(command: str | None) -> list[str]:
    """argv for the container: ``sh -c '<script>'`` running the command then the sentinel."""
    user = command if command and command.strip() else "true"
    script = (
        f'( {user} ); rc=$?; echo "{EXIT_SENTINEL}$rc"; '
        # Idle so the cloud does not restart the container before we terminate it.
        "while true; do sleep 3600; done"
    )
    return ["sh", "-c", script]


def wrap_command_string(command: str | None) -> str:
    """The same wrapper as one shell-quoted string (for APIs that take a single string)."""
    return shlex.join(wrap_command(command))


def parse_exit_sentinel(line: str) -> int | None:
    m = _SENTINEL_RE.search(line)
    return int(m.group(1)) if m else None


def split_sentinel(lines: list[str]) -> tuple[list[str], int | None]:
    """Drop sentinel lines from user-visible logs; return (lines, exit code if seen)."""
    out: list[str] = []
    code: int | None = None
    for line in lines:
        parsed = parse_exit_sentinel(line)
        if parsed is None:
            out.append(line)
        else:
            code = parsed
    return out, code
