"""CLI fixtures: the CLI run both ways, a private config dir per test, and the live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.runners import Cli, run_in_process, run_subprocess
from tests.sdk.live_server import Account, LiveServer, register, run_live_server


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config dir per test; a developer's own key or server never leaks in."""
    for name in list(os.environ):
        if name.startswith("HARVESTGPU_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "config"
    monkeypatch.setenv("HARVESTGPU_CONFIG_DIR", str(directory))
    return directory


@pytest.fixture(params=["in-process", "subprocess"])
def cli(request: pytest.FixtureRequest) -> Cli:
    """The CLI, once through CliRunner and once as ``python -m harvestgpu``."""
    runners: dict[str, Cli] = {"in-process": run_in_process, "subprocess": run_subprocess}
    return runners[request.param]


@pytest.fixture
def cli_in_process() -> Cli:
    return run_in_process


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server, started once for all CLI integration tests."""
    with run_live_server(tmp_path_factory.mktemp("cli-live-server")) as server:
        yield server


@pytest.fixture
def account(live_server: LiveServer) -> Account:
    """A fresh account on the live server."""
    return register(live_server)
