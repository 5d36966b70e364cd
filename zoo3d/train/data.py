"""Real training batches: a reproducible, resumable stream of dataset items.

The order is a fresh permutation of the dataset per epoch, drawn from ``(seed, epoch)``;
the only state is a cursor (items consumed so far), so a resumed run sees exactly the
batches an uninterrupted run would have seen.

With several processes the permutation and the cursor are global: each global batch of B items
is cut into equal consecutive shares, process r taking share r. Processes therefore see disjoint
items within every epoch, together exactly the items one process would see, and a run resumed
with another number of processes (same global batch) continues the same order.
"""

from __future__ import annotations

import functools
import signal
from pathlib import Path
from typing import Iterator

import torch

from zoo3d.cameras import Camera
from zoo3d.config import DataConfig
from zoo3d.core.model import RealBatch
from zoo3d.errors import PluginError, UserError, shell_word, shown_name


def resize_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, resolution, resolution) by area averaging (unchanged when already that size)."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    return torch.nn.functional.interpolate(images, size=(resolution, resolution), mode="area")


def build_dataset(data: DataConfig, resolution: int, camera_prior=None, seed: int = 0):
    """The dataset for ``data.spec`` at ``resolution`` (zoo3d.data when installed, else the registry)."""
    try:
        from zoo3d.data import build_dataset as data_build
    except ImportError:
        data_build = None
    if data_build is not None:
        return data_build(data, resolution, camera_prior=camera_prior, seed=seed)
    from zoo3d.plugins import get_dataset_spec

    if Path(data.spec).expanduser().exists():
        raise UserError(f"Cannot read dataset folder '{data.spec}': the zoo3d.data readers are not installed.")
    name, _, query = data.spec.partition("?")
    return get_dataset_spec(name.strip()).build(data, resolution, query=query, camera_prior=camera_prior, seed=seed)


#: How many items, spread evenly over a dataset that cannot list its cameras (no ``cameras()``), are read for them.
CAMERA_PROBES = 256


def dataset_cameras(dataset, spec: str = "") -> Camera | None:
    """The cameras a dataset serves, for a check of the whole data before a run: ``dataset.cameras()`` where it
    offers that (every item's, unmirrored: a folder's from its pose records and image headers, synthetic heads' drawn
    as their items draw them, no image decoded or rendered), else the ``camera`` of :data:`CAMERA_PROBES` items spread
    evenly over it (read as a batch of the run reads them); None when it serves no camera (data without poses).
    ``spec`` (the ``--data`` it was built from) names the dataset where its ``cameras()`` returns no ``Camera``."""
    if callable(getattr(dataset, "cameras", None)):  # a method; an attribute of that name is the plugin's own
        from zoo3d.data.served import check_cameras

        cameras = dataset.cameras()
        check_cameras(cameras, spec or type(dataset).__name__)
        return cameras if len(cameras) else None
    from zoo3d.data.served import read_items, spread

    items = read_items(dataset, spread(len(dataset), CAMERA_PROBES))
    labels = [item["camera"] for item in items if item.get("camera") is not None]
    return Camera.from_eg3d(torch.stack([torch.as_tensor(c) for c in labels])) if labels else None


def run_data_serves_cameras(config, resolution: int) -> bool:
    """Whether a run's dataset (``config.data``, built at ``resolution`` as the run builds it) serves cameras: whether
    its first item has a ``camera`` (a folder's and the synthetic heads' all have; a plugin's may have none), read
    without :func:`dataset_cameras`' look at every camera of a large folder."""
    dataset = build_dataset(config.data, resolution, camera_prior=config.camera, seed=config.train.seed)
    first = dataset.__getitems__([0])[0] if hasattr(dataset, "__getitems__") else dataset[0]
    return first.get("camera") is not None


def run_data_cameras(config, resolution: int) -> Camera | None:
    """:func:`dataset_cameras` of a run's dataset (``config.data``, built at ``resolution`` as the run builds it), for
    a model's checks of a new run's data before its folder exists (``ModelPlugin.check_new_run``)."""
    dataset = build_dataset(config.data, resolution, camera_prior=config.camera, seed=config.train.seed)
    return dataset_cameras(dataset, config.data.spec)


def small_dataset_note(size: int, data: DataConfig, batch: int, stage: str) -> str | None:
    """The start-up note of a dataset of ``size`` items smaller than stage ``stage``'s global ``batch``: every batch
    then holds each item more than once, from consecutive epochs (each in its own order and, with ``data.mirror``,
    with its own mirror flags). None for a dataset that fills a batch."""
    if size >= batch:
        return None
    flags = ", with its own mirror flags" if data.mirror else ""
    return (f"dataset '{shown_name(str(data.spec))}' holds {size} image{'s' * (size != 1)}, fewer than the batch of "
            f"{batch} of stage '{stage}', so every batch holds each image about {batch / size:.3g} times, from "
            f"consecutive epochs (each in its own order{flags}).")


def _problem_text(problem) -> str:
    file, what = getattr(problem, "file", ""), getattr(problem, "problem", str(problem))
    return f"{shown_name(file)}: {what}" if file else what


def check_folder_dataset(data: DataConfig, resolution: int | None = None) -> list[str]:
    """Check a dataset folder at start-up (headers only); refuse it when no image is usable.

    Returns the problems of a usable folder (the caller shows them), among them images smaller than
    ``resolution``, the largest the model trains at, which are upsampled to it; registered datasets such as
    ``synthetic:heads`` are not checked.
    """
    path = Path(data.spec).expanduser()  # as build_dataset reads it: a config file's '~/faces' is checked too
    if not path.exists():
        return []
    try:
        from zoo3d.data.check import check_dataset
    except ImportError:
        return []
    report = check_dataset(path, full=False, crop=data.crop)
    problems = [_problem_text(p) for p in getattr(report, "problems", [])]
    if not getattr(report, "usable", getattr(report, "ok", True)):
        first = f": {problems[0]}" if problems else ""
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UserError(f"Dataset '{shown_name(str(path))}' has no usable posed image{first}{more}; run "
                        f"`zoo3d data check {shell_word(str(path))}` for the full report.")
    # the images training serves: one without a pose is not upsampled, it is not read at all
    sizes = getattr(report, "usable_resolutions", None) or getattr(report, "resolutions", {}) or {}
    small = {k: n for k, n in sizes.items() if resolution and min(map(int, k.split("x"))) < resolution}
    if small:
        shown = ", ".join(f"{k} ({n})" for k, n in sorted(small.items(), key=lambda kv: -kv[1])[:3])
        # first: it is about the whole dataset, and start-up prints only the first few problems
        problems.insert(0, f"{sum(small.values())} images are smaller than the {resolution}x{resolution} the model "
                           f"trains at ({shown}); they are upsampled, so the model learns their blur")
    return problems


def check_stage_data(config, stages) -> None:
    """Build the dataset at every stage's resolution once, so a bad ``--data`` fails before a run folder exists.

    A plugin's dataset serves a sample of its items there (:func:`zoo3d.data.served.check_served`). A folder
    dataset also decodes a few images: a dataset whose every image is cut off behind an
    intact header passes the headers-only check, and is refused here instead of at the first batch.
    """
    from zoo3d.data.served import check_served

    resolutions = sorted({int(s.resolution) for s in stages if s.resolution is not None})
    for i, res in enumerate(resolutions):
        dataset = build_dataset(config.data, res, camera_prior=config.camera, seed=config.train.seed)
        check_served(dataset, config.data.spec, res)
        if len(dataset) == 0:
            raise UserError(f"Dataset '{config.data.spec}' is empty.")
        if i == 0 and hasattr(dataset, "check_readable"):
            dataset.check_readable()


#: Shared with the loader's worker processes: set when this process exits (see :func:`_leave_stops_to_the_trainer`).
_workers_released = None


def _release_flag():
    """The flag this process sets at exit, made (and its setting registered) before the first workers start."""
    global _workers_released
    if _workers_released is None:
        import atexit
        import multiprocessing

        _workers_released = multiprocessing.RawValue("b", 0)
        # atexit runs last-registered first: this precedes multiprocessing's own exit handler, which terminates the
        # workers still running (SIGTERM) and waits for them
        atexit.register(_release_workers)
    return _workers_released


def _release_workers() -> None:
    if _workers_released is not None:
        _workers_released.value = 1


def _leave_stops_to_the_trainer(released, worker_id: int) -> None:
    """A loader worker's start: SIGINT and SIGTERM are the training process's to act on. A terminal's Ctrl-C
    reaches the whole process group and a scheduler's SIGTERM every process of the job; a worker they ended
    (torch's workers die on a SIGTERM not sent by their parent) made the loader raise in the training process
    instead of letting it finish its step and write its checkpoint. The training process ends its workers
    itself (through the loader, or at its exit, after which a SIGTERM ends them again)."""

    def handle(signum, frame):
        if released.value:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)


class BatchStream:
    """Batches of ``batch_size`` items starting at item ``cursor`` of the shuffled stream.

    ``batch_size`` and ``cursor`` count the global batch; process ``rank`` of ``world_size`` loads
    only its share, items ``[rank * b, (rank + 1) * b)`` of each batch (b = batch_size / world_size).

    A dataset that makes items on demand may offer ``prefetch(indices)`` and ``prefetch_items``: when
    batches are read in this process (``num_workers`` 0), the stream hands it the items of the next
    batches, about ``prefetch_items`` at a time, before it reads them. The synthetic heads then render
    32 heads in one call instead of 4 in each of 8 (3.5 times faster at 32²); the items, and so the
    batches, are the same (up to the rounding of a rare pixel, docs/data.md).

    With worker processes the loader is kept for the whole stream (persistent workers), so what a
    dataset keeps in memory (the synthetic heads' renders, an open archive) lives across epochs. Each
    item is asked for with its epoch, and the worker's copy of the dataset is told the epoch
    (``set_epoch``) before it reads, so mirroring follows the epochs as it does in this process.
    """

    def __init__(self, dataset, batch_size: int, seed: int, cursor: int = 0, num_workers: int = 0,
                 rank: int = 0, world_size: int = 1, spec: str = ""):
        if len(dataset) == 0:
            raise UserError("The training dataset is empty.")
        if batch_size % world_size:
            raise ValueError(f"A batch of {batch_size} cannot be shared by {world_size} processes.")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.spec = spec  # the --data the dataset was built from, which a refusal of a batch names
        self.cursor = cursor
        self.num_workers = num_workers
        share = batch_size // world_size
        self.rank = rank
        self._share = slice(rank * share, (rank + 1) * share)
        self._iter: Iterator | None = None
        self._loader = None
        self._sampler = _EpochBatches()
        self._ahead = None  # batches per prefetch call; None: the dataset has no prefetch, or workers read
        if num_workers == 0 and callable(getattr(dataset, "prefetch", None)):
            self._ahead = max(1, int(getattr(dataset, "prefetch_items", share)) // share)
        self._batches: list[list[tuple[int, int]]] = []
        self._first = None  # (index, (image shape, has cameras)) of the first batch's first item
        self._served = self._prefetched = 0

    def _unlike_the_first(self, items) -> str:
        """Why a batch (as collated) differs from this stream's first batch, naming an item of each, or "": another
        image shape, or no cameras where the first batch's items have them (or cameras where they have none), which
        a batch's own items agreeing among themselves does not show."""
        from zoo3d.data.served import batch_problem

        index = self._batches[self._served][0][0]
        kind = (tuple(items["image"].shape[1:]), "camera" in items)
        if self._first is None:
            self._first = (index, kind)
            return ""
        if kind == self._first[1]:
            return ""
        stand_ins = [{"image": torch.empty(shape), **({"camera": 0} if posed else {})}
                     for shape, posed in (self._first[1], kind)]
        return batch_problem([self._first[0], index], stand_ins)

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.dataset), generator=g)

    def _epoch_batches(self, start: int) -> list[list[tuple[int, int]]]:
        """This process's shares of the batches that begin in ``start``'s epoch, each item as ``(index, epoch)``.
        The last batch may run into the next epochs (all of it, for a dataset smaller than a batch): its items
        from there are drawn from their own epoch's order and are read with their own epoch's mirror flags."""
        n = len(self.dataset)
        epoch = start // n
        orders = {}
        batches, pos = [], start
        while pos // n == epoch:
            batch = []
            for c in range(pos, pos + self.batch_size):
                e = c // n
                if e not in orders:
                    orders[e] = self._epoch_order(e)
                batch.append((int(orders[e][c % n]), e))
            batches.append(batch[self._share])
            pos += self.batch_size
        return batches

    def next(self, device: torch.device) -> RealBatch:
        """This process's share of the next batch on ``device``: images (b, 3, R, R) in [-1, 1] and cameras."""
        if self._iter is None:
            epoch = self.cursor // len(self.dataset)
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            self._batches, self._served, self._prefetched = self._epoch_batches(self.cursor), 0, 0
            self._sampler.batches = self._batches
            if self._loader is None:
                # The loader draws its workers' base seed from its own generator, not the process RNG: a
                # resumed run opens its loader mid-epoch, and a draw from the process RNG there would change
                # every later random number the model takes from it (noise, stratified samples). Each process
                # seeds its own, so a dataset that draws at random (a plugin's augmentation) draws differently
                # on every rank.
                # Its workers leave SIGINT and SIGTERM to this process (:func:`_leave_stops_to_the_trainer`).
                init = functools.partial(_leave_stops_to_the_trainer, _release_flag()) if self.num_workers else None
                self._loader = torch.utils.data.DataLoader(
                    _EpochItems(self.dataset), batch_sampler=self._sampler, num_workers=self.num_workers,
                    collate_fn=_collate,
                    pin_memory=device.type == "cuda", persistent_workers=self.num_workers > 0,
                    generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009
                                                            + 7_919 * self.rank), worker_init_fn=init)
            self._iter = iter(self._loader)
        if self._ahead is not None and self._prefetched <= self._served < len(self._batches):
            self._prefetched = min(len(self._batches), self._served + self._ahead)
            self.dataset.prefetch([i for batch in self._batches[self._served:self._prefetched] for i, _ in batch])
        try:
            items = next(self._iter)
        except StopIteration:
            self._iter = None
            return self.next(device)
        problem = items.problem if isinstance(items, _Unstackable) else self._unlike_the_first(items)
        if problem:
            from zoo3d.data.served import named

            raise PluginError(f"{named(self.spec) if self.spec else 'The dataset'} {problem}.")
        self._served += 1
        self.cursor += self.batch_size
        images = items["image"].to(device, non_blocking=True).float()
        cameras = None
        if "camera" in items:
            cameras = Camera.from_eg3d(items["camera"].float(), resolution=tuple(images.shape[-2:])).to(device)
        extras = {k: v for k, v in items.items() if k not in ("image", "camera")}
        return RealBatch(images=images, cameras=cameras, extras=extras)


class _EpochBatches:
    """The batch sampler of a stream's loader: the batches of the epoch the stream is opening, each item as
    ``(index, epoch)``. The stream refills it before every epoch; the loader (and its workers) stay."""

    def __init__(self):
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self):
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


class _Unstackable:
    """What a batch whose items cannot be stacked is read as (:func:`zoo3d.data.served.batch_problem`'s words), so
    that the training process refuses it in one sentence: raised in a loader worker, it came back as a traceback."""

    def __init__(self, problem: str):
        self.problem = problem


def _collate(items):
    """The loader's collation: torch's, or the :class:`_Unstackable` read in place of the batch, as it is."""
    return items if isinstance(items, _Unstackable) else torch.utils.data.default_collate(items)


class _EpochItems(torch.utils.data.Dataset):
    """``dataset`` read by ``(index, epoch)``: the copy in each worker is set to an item's epoch before it is read."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def _at(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, key) -> dict:
        index, epoch = key
        self._at(epoch)
        return self.dataset[index]

    def __getitems__(self, keys) -> list[dict]:
        """A batch read as the dataset's own batched read where it has one (the synthetic heads render a batch
        in one call), one read per epoch its items belong to (a batch that runs into the next epoch)."""
        many = getattr(self.dataset, "__getitems__", None)
        items: list = [None] * len(keys)
        for epoch in dict.fromkeys(e for _, e in keys):
            at = [k for k, (_, e) in enumerate(keys) if e == epoch]
            indices = [keys[k][0] for k in at]
            self._at(epoch)
            for k, item in zip(at, many(indices) if callable(many) else [self.dataset[i] for i in indices]):
                items[k] = item
        from zoo3d.data.served import batch_problem

        problem = batch_problem([index for index, _ in keys], items)
        return _Unstackable(problem) if problem else items
