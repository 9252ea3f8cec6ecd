"""Where ``harvestgpu auth login`` saves the API key and server, shared by the SDK and the CLI.

The file is ``config.json`` in ``platformdirs.user_config_dir("harvestgpu")``, or in
``$HARVESTGPU_CONFIG_DIR`` when that is set. The CLI writes it (see :mod:`harvestgpu.cli.config`);
the SDK only reads it, as its last source for a key and a server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

CONFIG_DIR_ENV = "HARVESTGPU_CONFIG_DIR"
CONFIG_FILE_NAME = "config.json"


@dataclass(frozen=True)
class SavedSettings:
    """What ``auth login`` saved. The key is kept out of ``repr``."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None


def config_dir() -> Path:
    """``$HARVESTGPU_CONFIG_DIR`` if set, else the platform's per-user config directory."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override).expanduser() if override else Path(user_config_dir("harvestgpu"))


def config_path() -> Path:
    """The config file's path (it may not exist yet)."""
    return config_dir() / CONFIG_FILE_NAME


def settings_from(data: Mapping[str, Any]) -> SavedSettings:
    """The settings in the file's JSON object (surrounding whitespace stripped, blanks ignored)."""
    api_key, base_url = data.get("api_key"), data.get("base_url")
    return SavedSettings(
        api_key=(api_key.strip() or None) if isinstance(api_key, str) else None,
        base_url=(base_url.strip() or None) if isinstance(base_url, str) else None,
    )


def read_saved_settings() -> SavedSettings:
    """The saved settings, or empty ones when there is no readable config file.

    The SDK treats a missing, unreadable or corrupt file as "nothing saved" (the CLI reports
    such a file; ``harvestgpu auth login`` rewrites it).
    """
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SavedSettings()
    return settings_from(data) if isinstance(data, dict) else SavedSettings()
