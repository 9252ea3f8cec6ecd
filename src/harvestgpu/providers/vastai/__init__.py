"""Vast.ai: a marketplace of individual container machines (``VastAIProvider``)."""

from harvestgpu.providers.vastai.adapter import VastAIProvider

__all__ = ["VastAIProvider"]
