"""The CLI's config file: the API key and server saved by ``harvestgpu auth login``.

It lives in ``platformdirs.user_config_dir("harvestgpu")/config.json`` (or under
``HARVESTGPU_CONFIG_DIR``) and is written with mode 0600, in a 0700 directory, because it holds
an API key.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from harvestgpu.errors import HarvestGPUError
from harvestgpu.sdk._config_file import (
    CONFIG_DIR_ENV,
    CONFIG_FILE_NAME,
    config_dir,
    config_path,
    settings_from,
)
from harvestgpu.sdk._config_file import SavedSettings as CliConfig

__all__ = [
    "CONFIG_DIR_ENV",
    "CONFIG_FILE_NAME",
    "CliConfig",
    "ConfigError",
    "config_dir",
    "config_path",
    "forget_api_key",
    "load_config",
    "save_config",
]

FILE_MODE = 0o600
DIR_MODE = 0o700


class ConfigError(HarvestGPUError):
    """The config file cannot be read or written."""


def load_config() -> CliConfig:
    """The saved config; an empty one when nothing was saved yet."""
    path = config_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CliConfig()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; fix it or run `harvestgpu auth login` again") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object; fix it or run `harvestgpu auth login` again")
    return settings_from(data)


def save_config(config: CliConfig) -> Path:
    """Write ``config`` atomically with mode 0600; returns the file's path."""
    path = config_path()
    data = {
        name: value for name, value in (("api_key", config.api_key), ("base_url", config.base_url)) if value
    }
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # mkstemp creates the file 0600 from the start: the key is never readable by others.
        fd, temp_name = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
            os.chmod(temp_name, FILE_MODE)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}") from None
    return path


def forget_api_key() -> bool:
    """Remove the saved API key (keeping the server URL); True if there was one."""
    config = load_config()
    if config.api_key is None:
        return False
    if config.base_url:
        save_config(CliConfig(base_url=config.base_url))
    else:
        config_path().unlink(missing_ok=True)
    return True
