"""Provider slug -> adapter class. Real adapters are imported on first use."""

from __future__ import annotations

import importlib

from harvestgpu.providers.base import Provider
from harvestgpu.providers.types import ProviderInfo

MOCK = "mock"
REAL_PROVIDERS: tuple[str, ...] = ("runpod", "lambda", "vastai", "tensordock")
ALL_PROVIDERS: tuple[str, ...] = (MOCK, *REAL_PROVIDERS)

_ADAPTERS: dict[str, tuple[str, str]] = {
    "runpod": ("harvestgpu.providers.runpod", "RunPodProvider"),
    "lambda": ("harvestgpu.providers.lambdalabs", "LambdaProvider"),
    "vastai": ("harvestgpu.providers.vastai", "VastAIProvider"),
    "tensordock": ("harvestgpu.providers.tensordock", "TensorDockProvider"),
    "mock": ("harvestgpu.providers.mock", "MockProvider"),
}


def provider_class(slug: str) -> type[Provider]:
    module, name = _ADAPTERS[slug]
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"{module}.{name} is not a Provider")
    return cls


def provider_info(slug: str) -> ProviderInfo:
    return provider_class(slug).info


def is_real(slug: str) -> bool:
    return slug in REAL_PROVIDERS
