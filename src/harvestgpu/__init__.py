"""HarvestGPU."""
