from __future__ import annotations

import pytest
from pydantic import ValidationError

from harvestgpu.server.settings import Settings


def test_per_cloud_timeouts_override_the_global_one() -> None:
    settings = Settings(provider_timeout_s=20, provider_timeouts="tensordock=90, lambda=30")
    assert settings.timeout_for("tensordock") == 90
    assert settings.timeout_for("lambda") == 30
    assert settings.timeout_for("runpod") == 20


def test_tensordock_gets_a_minute_by_default() -> None:
    assert Settings().timeout_for("tensordock") == 60


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tensordock", "is not provider=seconds"),
        ("tensordock=soon", "is not provider=seconds"),
        ("tensordock=0", "is not provider=seconds"),
        ("tensordok=60", "unknown provider 'tensordok'"),
    ],
)
def test_a_malformed_timeout_list_is_refused_at_start_up(spec: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(provider_timeouts=spec)
