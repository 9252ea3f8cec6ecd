"""Option parsers shared by commands: numbers bounded the way the server bounds them.

A value the server would refuse (0, a negative, ``inf``, ``nan``, above its maximum) is a usage
error (exit 2) before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import typer

from harvestgpu.models.jobs import (  # the server validates with the same bounds
    MAX_BUDGET_PER_HOUR,
    MAX_DURATION_HOURS,
    MAX_GPU_COUNT,
    MAX_MONTHLY_LIMIT,
)

__all__ = ["MAX_BUDGET_PER_HOUR", "MAX_DURATION_HOURS", "MAX_GPU_COUNT", "MAX_MONTHLY_LIMIT"]


def positive_problem(number: float, maximum: float) -> str | None:
    """Why ``number`` is not a finite number above 0 and at most ``maximum``; None if it is."""
    if not math.isfinite(number):
        return f"must be a finite number, not {number}"
    if not 0 < number <= maximum:
        return f"must be above 0 and at most {maximum:,.0f}, not {number:g}"
    return None


def positive_up_to(maximum: float) -> Callable[[str], float]:
    """A Typer ``parser`` for a finite float above 0 and at most ``maximum``."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise typer.BadParameter(f"must be a number, not {value!r}") from None
        problem = positive_problem(number, maximum)
        if problem is not None:
            raise typer.BadParameter(problem)
        return number

    return parse
