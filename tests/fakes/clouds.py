"""The four fake clouds by provider slug, for suites that run every adapter the same way."""

from __future__ import annotations

from typing import Any

from tests.fakes.lambdalabs_fake import FakeLambdaCloud
from tests.fakes.runpod_fake import FakeRunPodCloud
from tests.fakes.tensordock_fake import FakeTensorDockCloud
from tests.fakes.vastai_fake import FakeVastAICloud

FAKE_CLOUDS: dict[str, type[Any]] = {
    "runpod": FakeRunPodCloud,
    "lambda": FakeLambdaCloud,
    "vastai": FakeVastAICloud,
    "tensordock": FakeTensorDockCloud,
}
