"""The four fake clouds by provider slug, for suites that run every adapter the same way."""

from __future__ import annotations

from typing import Any

from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.fakes.runpod import FakeRunPodCloud
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.fakes.vastai import FakeVastAICloud

FAKE_CLOUDS: dict[str, type[Any]] = {
    "runpod": FakeRunPodCloud,
    "lambda": FakeLambdaCloud,
    "vastai": FakeVastAICloud,
    "tensordock": FakeTensorDockCloud,
}
