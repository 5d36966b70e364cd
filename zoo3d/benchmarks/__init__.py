"""Benchmark suites for ``zoo3d bench``: each module has ``run(device, quick) -> list[dict]``."""
