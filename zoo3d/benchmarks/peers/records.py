"""What ``zoo3d bench peers`` measures: the records, their sizes and the targets they are held to.

Every record is one piece of work done by the authors' code and by zoo3d on identical network sizes
(the paper configurations: GRAM ``FFHQ_default``, GRAM-HD ``GRAMHD256_FFHQ``) and identical inputs:
zoo3d's networks get the authors' initial weights through ``zoo3d import``'s converters, the same
latents and the same cameras, so the inference records also check that both render the same image.

Works:
    ``inference``: one image of 1 latent, no graph.
    ``forward_backward``: the generator alone: ``split`` sub-batches of ``batch / split`` images, each
        rendered with a graph and back-propagated (loss = mean of the image), gradients accumulated.
    ``train_step``: one full training step: the discriminator phase (fakes without a graph, R1, pose
        losses) and the generator phase, optimiser steps and EMA, with ``batch`` real images. The
        authors' code splits the batch into ``split`` sub-batches (its config's ``batch_split``);
        zoo3d's engine renders the whole batch at once.
    ``graph``: one image rendered with the computational graph retained (every GRAM parameter
        trainable; GRAM-HD: its stage-2 trainables, the stage-1 GRAM frozen), no backward: the
        setting of GRAM-HD's Table 4.
    ``neus_fit``: the ``neus`` metric's NeuS fit of one 30-view scene against the authors' NeuS training
        loop, same networks, rays and samples; time = training seconds to reach the PSNR zoo3d's fit
        reaches at the protocol's iteration count (:mod:`zoo3d.benchmarks.peers.neus`).
    ``neus_steps``: the same two fits for a fixed number of steps, nothing watched: the time per step,
        measured in alternating pairs like the other records (the fit record runs once, so its two
        sides may see different machine load).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    """One side-by-side measurement. ``time_target`` / ``memory_target``: the largest zoo3d / authors ratio
    that meets the target (None: reported, no target)."""

    name: str
    model: str
    work: str
    resolution: int
    batch: int = 1
    split: int = 1
    time_target: float | None = None
    memory_target: float | None = None
    title: str = ""


RECORDS: list[Record] = [
    Record("gram.inference.128", "gram", "inference", 128, time_target=0.5, memory_target=1.0,
           title="GRAM ffhq256 inference, 1 image 128²"),
    Record("gram.inference.256", "gram", "inference", 256, time_target=0.5, memory_target=1.0,
           title="GRAM ffhq256 inference, 1 image 256²"),
    Record("gram.forward_backward.64", "gram", "forward_backward", 64, batch=4, split=4,
           title="GRAM generator forward+backward, batch 4 at 64² (4 sub-batches, as upstream)"),
    Record("gram.train_step.64", "gram", "train_step", 64, batch=4, split=4, time_target=0.5,
           title="GRAM training step (G + D), batch 4 at 64², authors' batch_split 4"),
    Record("gram_hd.inference.256", "gram_hd", "inference", 256, time_target=0.6,
           title="GRAM-HD ffhq256 inference, 1 image 256²"),
    Record("gram_hd.train_step.256", "gram_hd", "train_step", 256, batch=1, split=1, time_target=0.6,
           title="GRAM-HD stage-2 training step (G + D), 1 image at 256²"),
    Record("gram.graph.256", "gram", "graph", 256, title="GRAM forward with the graph retained, 1 image 256²"),
    Record("gram_hd.graph.256", "gram_hd", "graph", 256,
           title="GRAM-HD forward with the graph retained (stage-2 trainables), 1 image 256²"),
    Record("neus.fit.64", "neus", "neus_fit", 64, time_target=0.1,
           title="NeuS metric fit to zoo3d's PSNR, 30 views 64² (small protocol, 64-wide nets)"),
    Record("neus.steps.64", "neus", "neus_steps", 64,
           title="NeuS metric fit, 50 training steps (time per step), 30 views 64², 64-wide nets"),
]

#: ``--quick``: the same works at sizes that run in seconds (a smoke test of the harness, not a record).
QUICK_RECORDS: list[Record] = [
    Record("gram.inference.32", "gram", "inference", 32, time_target=0.5, memory_target=1.0),
    Record("gram.forward_backward.16", "gram", "forward_backward", 16, batch=4, split=4),
    Record("gram.train_step.16", "gram", "train_step", 16, batch=4, split=4, time_target=0.5),
    Record("gram_hd.inference.64", "gram_hd", "inference", 64, time_target=0.6),
    Record("gram_hd.train_step.64", "gram_hd", "train_step", 64, time_target=0.6),
    Record("gram.graph.64", "gram", "graph", 64),
    Record("gram_hd.graph.64", "gram_hd", "graph", 64),
    Record("neus.fit.32", "neus", "neus_fit", 32, time_target=0.1),
    Record("neus.steps.32", "neus", "neus_steps", 32),
]

#: GRAM-HD renders its LR image (and grids its manifolds) at the HR side / 4 (GRAMHD256_FFHQ: 64 -> 256).
GRAM_HD_SCALE = 4

#: GRAM's and GRAM-HD's camera (FFHQ): fov 12°, rays sampled over [0.88, 1.12].
CAMERA = {"fov": 12.0, "ray_start": 0.88, "ray_end": 1.12}

#: Inputs (GRAM's (phi, theta) around pi/2): a non-frontal pose, so nothing is symmetric by accident.
POSE = (1.5707963267948966 - 0.1, 1.5707963267948966 + 0.25)
SEED_WEIGHTS, SEED_INPUTS = 0, 1


def by_name(name: str) -> Record:
    for r in RECORDS + QUICK_RECORDS:
        if r.name == name:
            return r
    raise KeyError(name)
