"""What every command needs: the global options, the output writer and an SDK client.

Key precedence: ``--api-key`` option, then ``HARVESTGPU_API_KEY``, then the config file.
Server precedence: ``--base-url``, then ``HARVESTGPU_BASE_URL``, then the config file, then
``http://localhost:5000``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated

import typer

from harvestgpu.cli.config import load_config
from harvestgpu.cli.output import Output
from harvestgpu.sdk import HarvestGPU
from harvestgpu.sdk._transport import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, clean_api_key

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print machine-readable JSON on stdout (same as the global --json)."),
]


@dataclass(frozen=True)
class GlobalOptions:
    """The options given before the command (``harvestgpu --json --api-key K jobs list``)."""

    json_output: bool = False
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One command run: how to write, and how to reach the server."""

    options: GlobalOptions
    output: Output

    @classmethod
    def of(cls, ctx: typer.Context, json_output: bool = False) -> Invocation:
        """Combine the global options with the command's own ``--json``."""
        options = _global_options(ctx)
        return cls(options, Output(json_mode=options.json_output or json_output))

    @property
    def json(self) -> bool:
        """True when output must be JSON."""
        return self.output.json_mode

    def resolved_api_key(self) -> str | None:
        """The API key by precedence (option, env, config file), without surrounding whitespace."""
        return (
            clean_api_key(self.options.api_key)
            or clean_api_key(os.environ.get(API_KEY_ENV))
            or load_config().api_key
        )

    def resolved_base_url(self) -> str:
        """The server by precedence (option, env, config file, default)."""
        return (
            self.options.base_url
            or os.environ.get(BASE_URL_ENV)
            or load_config().base_url
            or DEFAULT_BASE_URL
        )

    def client(self) -> HarvestGPU:
        """An SDK client for this invocation (use it as a context manager)."""
        return HarvestGPU(api_key=self.resolved_api_key(), base_url=self.resolved_base_url())


def _global_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()
