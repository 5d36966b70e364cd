"""The ``speed`` metric: seconds per generated image and peak memory, at given resolutions.

Batch 1, after one warm-up call, ``speed_repeats`` timed calls (synchronised on CUDA), both
under ``torch.no_grad`` (inference) and with the autograd graph kept (training-like forward).
Peak memory is CUDA's max allocated bytes during the timed calls; on CPU it is reported as
null because torch's CPU allocator exposes no per-call peak (process RSS would mix in
everything else the process holds).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import torch

from zoo3d.devices import peak_memory_mb, reset_peak_memory, synchronize
from zoo3d.eval.metric import EvalContext, EvalModel, Metric


@contextmanager
def graph_kept(generator):
    """Autograd on, with every parameter requiring grad for the duration, as in a training forward.

    The harness loads generators frozen (``requires_grad_(False)``), and under ``enable_grad`` alone a
    frozen network records no graph, so the timing would be the no-grad one. Restores each flag after.
    """
    params = list(generator.parameters()) if hasattr(generator, "parameters") else []
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def time_render(generator, resolution: int, repeats: int, device, grad: bool, seed: int = 0) -> dict[str, Any]:
    """{"seconds": [per call], "peak_mb": float | None} for one image at ``resolution``."""
    rng = torch.Generator().manual_seed(seed)
    z = generator.sample_z(1, generator=rng, device=device)
    cams = generator.camera_prior.sample(1, generator=rng).to(device=device)
    ctx = graph_kept(generator) if grad else torch.no_grad()
    with ctx:
        generator(z, cams, resolution=(resolution, resolution))  # warm-up
        synchronize(device)
        reset_peak_memory(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = generator(z, cams, resolution=(resolution, resolution))
            synchronize(device)
            times.append(time.perf_counter() - t0)
            del out
    return {"seconds": times, "peak_mb": peak_memory_mb(device)}


class SpeedMetric(Metric):
    name = "speed"
    higher_is_better = False
    requires = ("images",)
    units = "one"

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, Any]:
        proto = ctx.protocol
        result: dict[str, Any] = {}
        device = torch.device(ctx.device)
        for res in proto.speed_resolutions:
            for grad in (False, True):
                tag = f"{res}" + ("_grad" if grad else "")
                rec = time_render(model.generator, res, proto.speed_repeats, device, grad, proto.seed_start)
                result[f"speed_ms_{tag}"] = [1e3 * t for t in rec["seconds"]]
                if rec["peak_mb"] is not None:
                    result[f"peak_mb_{tag}"] = [rec["peak_mb"]]
        if device.type != "cuda":
            result["_meta"] = {"peak_mb": None, "peak_mb_reason": "CPU: no per-call peak from torch's allocator"}
        ctx.advance(1)
        return result

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        # the intra-op threads set a CPU timing as much as the device does (the values' n counts repeats)
        return {"resolutions": ctx.protocol.speed_resolutions, "repeats": ctx.protocol.speed_repeats, "batch": 1,
                "device": str(ctx.device), "threads": torch.get_num_threads()}
