"""``python -m zoo3d`` is the ``zoo3d`` command (so ``torchrun ... -m zoo3d train ...`` works)."""

from zoo3d.cli.main import main

if __name__ == "__main__":
    main()
