"""Benchmark suite ``data``: synthetic-heads rendering throughput (images/s) per resolution.

Also reports images per CPU-second of this process, which is less disturbed than wall time
when other work shares the machine. On the CPU one render call uses one thread, so on an idle
machine ``images_per_cpu_s`` times the number of DataLoader workers (up to the core count) is
the throughput training sees.
"""

from __future__ import annotations

import time

import torch

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


def run(device: str, quick: bool) -> list[dict]:
    dev = torch.device(device)
    sizes = [(64, 16, 1)] if quick else [(64, 64, 3), (128, 32, 2), (256, 8, 2)]
    if dev.type == "cuda" and not quick:
        sizes = [(64, 256, 5), (128, 128, 5), (256, 64, 5), (512, 16, 3), (1024, 4, 3)]
    return [_measure(r, b, n, dev) for r, b, n in sizes]
