"""The HarvestGPU server: API, services, workers. Needs the ``server`` extra."""
