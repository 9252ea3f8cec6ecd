"""Rate limits are off by default under tests/server: the shared fixtures poll the API far faster
than any plan allows. Tests of the limits turn them on (``api_factory(rate_limit_enabled=True)``);
explicit settings win over the environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _rate_limits_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARVESTGPU_RATE_LIMIT_ENABLED", "false")
