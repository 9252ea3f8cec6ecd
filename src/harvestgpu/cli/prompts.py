"""Asking for a key that was not given as an option.

On a terminal the key is asked for with the input hidden. Otherwise (a pipe, a file, a CI job)
the first line of stdin is the key, so ``echo "$KEY" | harvestgpu keys add runpod`` works and
nothing waits for input that cannot come.
"""

from __future__ import annotations

import sys

import typer

from harvestgpu.cli.output import Output

USAGE_EXIT_CODE = 2


def _stdin_is_terminal() -> bool:
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except ValueError:  # closed
        return False


def _first_stdin_line() -> str:
    stdin = sys.stdin
    if stdin is None:
        return ""
    try:
        return stdin.readline()
    except (OSError, ValueError):
        return ""


def ask_secret(output: Output, prompt: str, option: str = "--key") -> str:
    """The key typed at a hidden prompt (terminal) or the first line of stdin, without whitespace.

    Nothing there is a usage error (exit 2) with a one-line message naming ``option``.
    """
    if _stdin_is_terminal():
        # On stderr, like every other remark: stdout is for results (``--json``).
        value = str(typer.prompt(prompt, hide_input=True, default="", show_default=False, err=True))
    else:
        value = _first_stdin_line()
    value = value.strip()
    if not value:
        output.error(f"No key given: pass {option} KEY, or pipe the key on stdin")
        raise typer.Exit(USAGE_EXIT_CODE)
    return value
