"""Real training batches: a reproducible, resumable stream of dataset items.

The order is a fresh permutation of the dataset per epoch, drawn from ``(seed, epoch)``;
the only state is a cursor (items consumed so far), so a resumed run sees exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import torch

from zoo3d.cameras import Camera
from zoo3d.config import DataConfig
from zoo3d.core.model import RealBatch
from zoo3d.errors import UserError


def build_dataset(data: DataConfig, resolution: int):
    """The dataset for ``data.spec`` at ``resolution`` (zoo3d.data when installed, else the registry)."""
    try:
        from zoo3d.data import build_dataset as data_build
    except ImportError:
        data_build = None
    if data_build is not None:
        return data_build(data, resolution)
    from zoo3d.plugins import get_dataset_spec

    if Path(data.spec).exists():
        raise UserError(f"Cannot read dataset folder '{data.spec}': the zoo3d.data readers are not installed.")
    return get_dataset_spec(data.spec).load()(data, resolution)


def check_folder_dataset(data: DataConfig) -> None:
    """Refuse an unusable dataset folder at start-up with the data checker's report (headers only)."""
    path = Path(data.spec)
    if not path.exists():
        return
    try:
        from zoo3d.data.check import check_dataset
    except ImportError:
        return
    report = check_dataset(path, full=False)
    if not getattr(report, "ok", True):
        problems = getattr(report, "problems", None) or []
        first = f": {problems[0]}" if problems else ""
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UserError(f"Dataset '{path}' is not usable{first}{more}; run `zoo3d data check {path}` for the "
                        f"full report.")


class BatchStream:
    """Batches of ``batch_size`` items starting at item ``cursor`` of the shuffled stream."""

    def __init__(self, dataset, batch_size: int, seed: int, cursor: int = 0, num_workers: int = 0):
        if len(dataset) == 0:
            raise UserError("The training dataset is empty.")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.cursor = cursor
        self.num_workers = num_workers
        self._iter: Iterator | None = None

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.dataset), generator=g)

    def _index_batches(self, start: int) -> Iterator[list[int]]:
        n = len(self.dataset)
        pos = start
        order_epoch, order = -1, None
        while True:
            batch = []
            for c in range(pos, pos + self.batch_size):
                epoch = c // n
                if epoch != order_epoch:
                    order_epoch, order = epoch, self._epoch_order(epoch)
                batch.append(int(order[c % n]))
            if hasattr(self.dataset, "set_epoch") and self.num_workers == 0:
                self.dataset.set_epoch(pos // n)
            pos += self.batch_size
            yield batch

    def next(self, device: torch.device) -> RealBatch:
        if self._iter is None:
            loader = torch.utils.data.DataLoader(
                self.dataset, batch_sampler=self._index_batches(self.cursor), num_workers=self.num_workers,
                pin_memory=device.type == "cuda")
            self._iter = iter(loader)
        items = next(self._iter)
        self.cursor += self.batch_size
        images = items["image"].to(device, non_blocking=True).float()
        cameras = None
        if "camera" in items:
            cameras = Camera.from_eg3d(items["camera"].float(), resolution=tuple(images.shape[-2:])).to(device)
        extras = {k: v for k, v in items.items() if k not in ("image", "camera")}
        return RealBatch(images=images, cameras=cameras, extras=extras)
