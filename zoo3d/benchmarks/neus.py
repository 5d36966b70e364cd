"""NeuS-fit speed for the ``neus`` metric: seconds per iteration and per instance.

Fits the exact textured sphere (``zoo3d.eval.calibration``) with the ``small`` protocol's
settings (and the ``paper`` networks unless quick) for a few iterations at 30 views. Each record names what was
timed (``resolution``, ``views``, ``iterations_timed``: 10 quick, 50 otherwise, after a 2-iteration warm-up) and
the protocol's ``iterations_per_instance`` that ``s_per_instance_est`` = ``s_per_iter`` x it assumes.
"""

from __future__ import annotations

import torch

from zoo3d.cameras import yaw_sweep
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import render_instance
from zoo3d.eval.neus.fit import fit_neus
from zoo3d.eval.protocol import make_protocol

RESOLUTION = 64  # of the views fitted


def run(device: str, quick: bool) -> list[dict]:
    dev = torch.device(device)
    records = []
    for name in (["small"] if quick else ["small", "paper"]):
        proto = make_protocol(name, resolution=RESOLUTION)
        iterations = 10 if quick else 50
        settings = proto.neus.model_copy(update={"iterations": iterations})
        cams = yaw_sweep(proto.views, proto.yaw_range).to(device=dev)
        gen = TexturedSphereGenerator(True).to(dev)
        z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0)).to(dev)
        views = render_instance(gen, z, cams, RESOLUTION)["rgb"]
        fit_neus(views, cams, settings.model_copy(update={"iterations": 2}), rerender=False)  # warm-up
        fit = fit_neus(views, cams, settings, rerender=False)
        per_iter = fit.seconds / iterations
        # what was timed and what the estimate multiplies it by: the record read "361 s per instance" alone
        records.append({"protocol": name, "device": device, "resolution": RESOLUTION, "views": proto.views,
                        "rays_per_iter": settings.batch_rays,
                        "samples_per_ray": settings.n_coarse + settings.n_importance,
                        "iterations_timed": iterations, "s_per_iter": per_iter,
                        "iterations_per_instance": proto.neus.iterations,
                        "s_per_instance_est": per_iter * proto.neus.iterations})
    return records
