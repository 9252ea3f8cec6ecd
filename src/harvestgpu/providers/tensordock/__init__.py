"""TensorDock (v2 API) provider adapter."""

from harvestgpu.providers.tensordock.adapter import TensorDockProvider

__all__ = ["TensorDockProvider"]
