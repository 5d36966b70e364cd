"""A training stream's first batches on a cold cache: ``synthetic:heads`` of another revision against this one.

    python benchmarks/data_stream_ab.py [--before REV] [--repeats 2]

Loads ``zoo3d/data/synthetic.py`` as it is at ``--before`` (``git show``, default ``eb569f5^``, the
dataset that rendered whole blocks around every item) beside the current one, and times the first batches
of a fresh, shuffled stream of batches of 4 (``zoo3d.train.data.BatchStream``, as ``zoo3d train`` reads
it) for each, alternating, on one thread. Prints seconds, heads rendered and whether the two streams gave
the same images. Run from the repository root.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

CASES = ((64, 60), (32, 400), (64, 400))  # (resolution, batches): GRAM-HD tiny's 60-step stage 2 first


def load_revision(rev: str):
    """The module ``zoo3d/data/synthetic.py`` of git revision ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:zoo3d/data/synthetic.py"], check=True, capture_output=True,
                            text=True).stdout
    with tempfile.TemporaryDirectory(prefix="zoo3d_before_") as tmp:  # the file is read once, then removed
        path = Path(tmp) / "synthetic_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("synthetic_before", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def heads_rendered(dataset) -> int:
    if hasattr(dataset, "_items"):
        return len(dataset._items)
    return sum(len(next(iter(block.values()))) for block in dataset._blocks.values())


def stream(cls, resolution: int, batches: int) -> tuple[float, int, list[torch.Tensor]]:
    from zoo3d.benchmarks.data import time_stream

    dataset = cls(resolution, mirror=True)
    seconds, images = time_stream(dataset, batches)
    return seconds, heads_rendered(dataset), images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="eb569f5^")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from zoo3d.data.synthetic import SyntheticHeads

    before = load_revision(args.before).SyntheticHeads
    for resolution, batches in CASES:
        for _ in range(args.repeats):
            (t0, n0, a), (t1, n1, b) = stream(before, resolution, batches), stream(SyntheticHeads, resolution, batches)
            same = sum(torch.equal(x, y) for x, y in zip(a, b))
            print(f"{resolution}², first {batches} batches: before {t0:.1f} s ({n0} heads rendered), "
                  f"now {t1:.1f} s ({n1}), ratio {t0 / t1:.1f}; {same} of {batches} batches identical", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
