"""RunPod (REST v2) provider adapter."""

from harvestgpu.providers.runpod.adapter import RunPodProvider

__all__ = ["RunPodProvider"]
