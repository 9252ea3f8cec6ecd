"""``python -m harvestgpu`` runs the command-line tool."""

from harvestgpu.cli.main import main

if __name__ == "__main__":
    main()
