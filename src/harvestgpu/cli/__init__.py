"""The ``harvestgpu`` command-line tool (Typer + Rich), built on the SDK."""
