"""Lambda Cloud (cloud.lambda.ai) provider adapter."""

from harvestgpu.providers.lambdalabs.adapter import LambdaProvider

__all__ = ["LambdaProvider"]
