"""HTTP header parsing shared by the SDK and the cloud adapters (stdlib only: the SDK install
has no server dependencies)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

# What a credential in an HTTP header may hold without escaping: visible ASCII (no spaces, no
# controls). HTTP libraries echo other values, escaped, in their exception text.
_HEADER_SAFE = frozenset(chr(code) for code in range(0x21, 0x7F))


def is_header_safe(value: str) -> bool:
    """True when ``value`` is non-empty and can go into an ``Authorization`` header as is."""
    return bool(value) and all(char in _HEADER_SAFE for char in value)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``now`` is a Unix timestamp (defaults to the current time). None when absent or unreadable.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
