"""Incremental reads of Vast's log tails: cursors are "<lines seen>:<fingerprint>"."""

from __future__ import annotations

import hashlib

LOG_ANCHOR_LINES = 5


def _fingerprint(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _parse_cursor(cursor: str | None) -> tuple[int, str] | None:
    count, _, digest = (cursor or "").partition(":")
    return (int(count), digest) if count.isdigit() and digest else None


def lines_after(lines: list[str], cursor: str | None, complete: bool) -> list[str]:
    """The lines of a log tail that come after ``cursor`` ("<lines seen>:<fingerprint>").

    While the tail holds the whole log the count is exact; once the log outgrew the tail the
    fingerprint of the last lines seen is searched for instead (best effort: a log that keeps
    repeating the same block can match early and repeat lines, it never drops the newest).
    """
    parsed = _parse_cursor(cursor)
    if parsed is None:
        return lines
    count, digest = parsed
    anchor = min(LOG_ANCHOR_LINES, count)
    if complete and anchor <= count <= len(lines) and _fingerprint(lines[count - anchor : count]) == digest:
        return lines[count:]
    for end in range(len(lines), anchor - 1, -1):
        if _fingerprint(lines[end - anchor : end]) == digest:
            return lines[end:]
    return lines


def next_cursor(lines: list[str], new: list[str], cursor: str | None, complete: bool) -> str:
    parsed = _parse_cursor(cursor)
    count = len(lines) if complete else (parsed[0] if parsed else 0) + len(new)
    anchor = min(LOG_ANCHOR_LINES, count, len(lines))
    return f"{count}:{_fingerprint(lines[len(lines) - anchor :])}"
