"""The installed distribution's version (one source of truth: pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("harvestgpu")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0"
