"""The HarvestGPU Python SDK (``from harvestgpu import HarvestGPU`` is the usual entry point)."""

from harvestgpu.sdk._responses import RetryPolicy
from harvestgpu.sdk.client import AsyncHarvestGPU, HarvestGPU
from harvestgpu.sdk.job import AsyncJob, Job
from harvestgpu.sdk.pagination import AsyncJobIterator, JobIterator
from harvestgpu.sdk.types import (
    Account,
    ApiKey,
    NewApiKey,
    PriceList,
    ProviderKey,
    ProviderKeyTest,
    Registration,
    Session,
    Usage,
)

__all__ = [
    "Account",
    "ApiKey",
    "AsyncHarvestGPU",
    "AsyncJob",
    "AsyncJobIterator",
    "HarvestGPU",
    "Job",
    "JobIterator",
    "NewApiKey",
    "PriceList",
    "ProviderKey",
    "ProviderKeyTest",
    "Registration",
    "RetryPolicy",
    "Session",
    "Usage",
]
