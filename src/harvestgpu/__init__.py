"""HarvestGPU: run GPU jobs on the cheapest GPU across your own cloud accounts.

>>> from harvestgpu import HarvestGPU
>>> gpu = HarvestGPU(api_key="hg_live_...")
>>> job = gpu.run(gpu="H100", image="pytorch/pytorch:latest", command="python train.py", budget_max=2.50)

Importing this package loads only the SDK (httpx + pydantic), never the server.
"""

from harvestgpu.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    HarvestGPUError,
    InvalidRequestError,
    NoCapacityError,
    NotFoundError,
    RateLimitError,
)
from harvestgpu.sdk import AsyncHarvestGPU, AsyncJob, HarvestGPU, Job
from harvestgpu.sdk._version import VERSION as __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncHarvestGPU",
    "AsyncJob",
    "AuthenticationError",
    "ConflictError",
    "HarvestGPU",
    "HarvestGPUError",
    "InvalidRequestError",
    "Job",
    "NoCapacityError",
    "NotFoundError",
    "RateLimitError",
    "__version__",
]
