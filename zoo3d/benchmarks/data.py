"""Benchmark suite ``data``: synthetic-heads rendering throughput (images/s) per resolution.

Also reports images per CPU-second of this process, which is less disturbed than wall time
when other work shares the machine. On the CPU one render call uses one thread and parallelism
comes from DataLoader workers, so the CPU suite also renders 64² batches in one worker process
per core at once (``workers`` records): that is the throughput training sees on the machine. The
``stream`` record times a training stream's first batches on a cold cache (shuffled items, batch 4, as
``zoo3d train`` reads them) and counts the heads it rendered per image it gave, how many of them it
rendered ahead for its next batches (``prefetch``, 32 at a time) and how many it was never asked for.
"""

from __future__ import annotations

import time

import torch

from zoo3d.benchmarks.zoo import usable_cores
from zoo3d.cameras import CameraPrior
from zoo3d.devices import synchronize


def _measure(resolution: int, batch: int, repeats: int, device: torch.device) -> dict:
    from zoo3d.data.synthetic import render_heads, sample_head_params

    params = sample_head_params(batch, seed=1, device=device)
    cams = CameraPrior().sample(batch, generator=torch.Generator().manual_seed(2), device=device)
    render_heads(params[:2], cams[:2], resolution)  # warm-up
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        render_heads(params, cams, resolution)
    synchronize(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = batch * repeats
    return {"dataset": "synthetic:heads", "resolution": resolution, "device": str(device), "batch": batch,
            "images": n, "images_per_s": n / wall,
            "images_per_cpu_s": n / cpu if device.type == "cpu" and cpu > 0 else None,
            "render_threads": 1 if device.type == "cpu" else None}


def _render_job(job: tuple[int, int, int]) -> int:
    """Worker process: render ``batch`` heads of seed ``seed`` at ``resolution``; returns the image count."""
    from zoo3d.data.synthetic import render_heads, sample_head_params

    resolution, batch, seed = job
    params = sample_head_params(batch, seed=seed)
    cams = CameraPrior().sample(batch, generator=torch.Generator().manual_seed(seed))
    render_heads(params, cams, resolution)
    return batch


def _worker_pool(workers: int):
    """``workers`` spawned processes that ignore Ctrl-C from their start (they inherit the ignored SIGINT, so not
    even their imports see it): the interrupt is the parent's, which stops them on its way out, and a worker
    interrupted mid-import would print its own traceback under the command's one line."""
    import multiprocessing as mp
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return mp.get_context("spawn").Pool(workers)
    finally:
        signal.signal(signal.SIGINT, previous)


def _measure_workers(resolution: int, batch: int, repeats: int, workers: int) -> dict:
    """Images/s with ``workers`` processes rendering batches side by side (after one warm-up batch each)."""
    with _worker_pool(workers) as pool:  # leaving it, even by Ctrl-C, terminates the workers
        pool.map(_render_job, [(resolution, 4, 100 + i) for i in range(workers)], chunksize=1)  # imports, warm-up
        wall = time.perf_counter()
        n = sum(pool.map(_render_job, [(resolution, batch, 200 + i) for i in range(workers * repeats)], chunksize=1))
        wall = time.perf_counter() - wall
    return {"dataset": "synthetic:heads", "resolution": resolution, "device": "cpu", "batch": batch, "images": n,
            "images_per_s": n / wall, "images_per_cpu_s": None, "render_threads": 1, "workers": workers}


def time_stream(dataset, batches: int) -> tuple[float, list[torch.Tensor]]:
    """Seconds for the first ``batches`` batches of 4 of a training stream over ``dataset`` (shuffled, seed 0,
    as ``zoo3d train`` reads it), and their images."""
    from zoo3d.train.data import BatchStream

    stream = BatchStream(dataset, 4, seed=0)
    wall = time.perf_counter()
    images = [stream.next(torch.device("cpu")).images for _ in range(batches)]
    return time.perf_counter() - wall, images


def _measure_stream(resolution: int, batches: int, device: torch.device) -> dict:
    """The first ``batches`` batches of 4 of a fresh ``synthetic:heads`` training stream (nothing rendered yet)."""
    from zoo3d.data.synthetic import SyntheticHeads

    dataset = SyntheticHeads(resolution, mirror=True, device=device)
    named: set[int] = set()  # the items the stream named ahead (docs/data.md): its next batches'
    prefetch = dataset.prefetch
    dataset.prefetch = lambda indices: named.update(indices) or prefetch(indices)
    wall, _ = time_stream(dataset, batches)
    rendered = len(dataset._items)
    return {"dataset": "synthetic:heads", "resolution": resolution, "device": str(device), "batch": 4,
            "images": 4 * batches, "images_per_s": 4 * batches / wall, "images_per_cpu_s": None,
            "render_threads": 1 if device.type == "cpu" else None, "stream_batches": batches,
            "heads_rendered_per_image": rendered / (4 * batches),
            "heads_rendered_ahead": len(named) - 4 * batches, "heads_rendered_unnamed": rendered - len(named)}


def run(device: str, quick: bool) -> list[dict]:
    dev = torch.device(device)
    sizes = [(64, 16, 1)] if quick else [(64, 64, 3), (128, 32, 2), (256, 8, 2)]
    if dev.type == "cuda" and not quick:
        sizes = [(64, 256, 5), (128, 128, 5), (256, 64, 5), (512, 16, 3), (1024, 4, 3)]
    records = [_measure(r, b, n, dev) for r, b, n in sizes]
    if dev.type == "cpu":
        records.append(_measure_workers(64, 16 if quick else 64, 1 if quick else 3, usable_cores()))
    records.append(_measure_stream(64, 5 if quick else 60, dev))
    return records
