"""How the CLI writes: JSON for scripts (``--json``), Rich tables and colours for people.

Results go to stdout; spinners, notes and errors go to stderr, so ``--json`` output stays
parseable and piping a table still shows progress.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output has no terminal width; a wide virtual one keeps ids and prices unwrapped.
PIPE_WIDTH = 200

STATUS_STYLES = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "red",
    "stopped": "magenta",
}


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so a message fits on one line."""
    return " ".join(text.split())


def styled_status(status: str) -> str:
    """The status in its colour (Rich markup)."""
    return f"[{STATUS_STYLES.get(status, 'white')}]{escape(status)}[/]"


def money(value: float | None, suffix: str = "") -> str:
    """``$2.86`` style (``$0.0040`` below a cent, so short jobs do not show as free), or an em dash."""
    if value is None:
        return "—"
    if 0 < abs(value) < 0.01:
        return f"${value:.4f}{suffix}"
    return f"${value:,.2f}{suffix}"


def when(value: datetime | None) -> str:
    """A timestamp as ``2026-04-14 12:00:00`` UTC, or an em dash."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def text(value: object) -> str:
    """A cell value with Rich markup escaped; an em dash for None."""
    return "—" if value is None else escape(str(value))


class Output:
    """The writer of one CLI invocation."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)

    def json(self, value: Any) -> None:
        """Write ``value`` (models, lists, dicts) as JSON on stdout."""
        sys.stdout.write(json.dumps(to_jsonable_python(value), indent=2) + "\n")
        sys.stdout.flush()

    def json_line(self, value: Any) -> None:
        """Write ``value`` as one compact JSON line (for streams such as followed logs)."""
        sys.stdout.write(json.dumps(to_jsonable_python(value)) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A Rich table on stdout; cells may carry Rich markup."""
        table = Table(title=title, header_style="bold", title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Aligned ``name  value`` lines on stdout; values may carry Rich markup."""
        width = max((len(name) for name, _ in pairs), default=0)
        for name, value in pairs:
            self.out.print(f"[bold]{name.ljust(width)}[/]  {value}", soft_wrap=True)

    def print(self, markup: str) -> None:
        """A line of Rich markup on stdout."""
        self.out.print(markup, soft_wrap=True)

    def success(self, message: str) -> None:
        """A green check and ``message`` on stdout (people only; escape dynamic parts)."""
        self.out.print(f"[green]✓[/] {message}", soft_wrap=True)

    def note(self, message: str) -> None:
        """A dim remark on stderr."""
        self.err.print(f"[dim]{message}[/]", soft_wrap=True)

    def warn(self, message: str) -> None:
        """A yellow warning on stderr."""
        self.err.print(f"[yellow]Warning:[/] {message}", soft_wrap=True)

    def error(self, message: str) -> None:
        """The one-line error of a failed command, on stderr."""
        self.err.print(f"[bold red]Error:[/] {escape(one_line(message))}", soft_wrap=True)

    def log_line(self, line: str) -> None:
        """A raw log line on stdout, as is (no markup, no wrapping), flushed at once."""
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    @contextmanager
    def spinner(self, message: str) -> Iterator[None]:
        """A spinner on stderr while the block runs (only on a terminal, never with ``--json``)."""
        status = self.err.status(message) if self.err.is_terminal and not self.json_mode else nullcontext()
        with status:
            yield
