"""Rendering fixed seeds from a generator: training sample grids, ``zoo3d sample`` and ``zoo3d render``.

A seed ``s`` always means the latent ``randn(1, z_dim)`` from a CPU ``torch.Generator``
seeded with ``s``, so the same seed gives the same instance in training grids, in
``zoo3d sample`` and in ``zoo3d render``, on any device.
"""

from __future__ import annotations

import math

from typing import Iterable, Sequence

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.outputs import RenderOutput


def seed_latents(seeds: Sequence[int], z_dim: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype | None = None) -> Tensor:
    """(len(seeds), z_dim) standard-normal latents, one reproducible row per seed (drawn in float32 on the CPU,
    so a seed is the same instance on every device and in every dtype)."""
    rows = [torch.randn(1, z_dim, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32) for s in seeds]
    return torch.cat(rows).to(device=device, dtype=dtype)


@torch.no_grad()
def render_views(generator, z: Tensor, cameras: Camera, psi: float = 1.0,
                 resolution: tuple[int, int] | None = None, chunk: int = 8, need_depth: bool = False) -> RenderOutput:
    """Render instance ``z[i]`` from ``cameras[i]`` (B each), ``chunk`` images at a time.

    Returns rgb (B, 3, H, W) in [-1, 1] and depth (B, 1, H, W) when the model gives one. With ``need_depth`` (a
    caller that draws depth) also ``extras["picture_depth"]``, the depth a picture draws
    (:func:`zoo3d.imageio.picture_depth`), and a model that gives no depth is rendered no further than its first
    chunk (the caller refuses: the rest would be drawn for nothing). Runs under ``fork_rng`` so sampling never
    changes the training RNG stream.
    """
    devices = [generator.device] if generator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return joined_renders((generator(z[i:i + chunk], cameras[i:i + chunk].to(z.device), psi=psi,
                                         resolution=resolution) for i in range(0, z.shape[0], chunk)), need_depth)


def joined_renders(outputs: Iterable[RenderOutput], need_depth: bool = False) -> RenderOutput:
    """Renders drawn a piece at a time (``outputs``, drawn as they are asked for) joined along the batch, in float32:
    rgb, depth where every piece has one and, with ``need_depth``, ``extras["picture_depth"]``
    (:func:`zoo3d.imageio.picture_depth`); with ``need_depth``, no piece is drawn after the first without depth (the
    caller refuses: the rest would be drawn for nothing). Only the pictures of each piece are kept."""
    from zoo3d.imageio import picture_depth

    rgb, depth, shown = [], [], []
    for out in outputs:
        rgb.append(out.rgb.float())
        if out.depth is not None:
            depth.append(out.depth.float())
            if need_depth:
                shown.append(picture_depth(out).float())
        elif need_depth:
            break
    if len(depth) != len(rgb):
        return RenderOutput(rgb=torch.cat(rgb))
    return RenderOutput(rgb=torch.cat(rgb), depth=torch.cat(depth),
                        extras={"picture_depth": torch.cat(shown)} if need_depth else {})


def yaw_rows(camera_prior, yaw: float | None = None) -> list[float]:
    """The yaws of a sample grid's rows: -yaw, frontal, +yaw. yaw defaults to the prior's std (0.3 if 0), at most
    pi/2: a prior all round its subject (CARLA, yaw_std pi) would otherwise draw the back view twice."""
    yaw = yaw if yaw is not None else min(camera_prior.yaw_std or 0.3, math.pi / 2)
    return [camera_prior.yaw_mean - yaw, camera_prior.yaw_mean, camera_prior.yaw_mean + yaw]


@torch.no_grad()
def sample_grid_images(generator, seeds: Sequence[int], psi: float, yaws: Sequence[float],
                       resolution: tuple[int, int] | None = None) -> Tensor:
    """(len(yaws) * len(seeds), 3, H, W): one row per yaw, one column per seed, in [-1, 1]."""
    prior = generator.camera_prior
    device = generator.device
    z = seed_latents(seeds, generator.z_dim, device, getattr(generator, "dtype", None))
    n = len(seeds)
    z_all = z.repeat(len(yaws), 1)
    yaw_all = torch.tensor([y for y in yaws for _ in range(n)], dtype=torch.float32)
    cams = Camera.from_angles(yaw_all, prior.centre_pitch, prior.radius, prior.fov, device=device)
    return render_views(generator, z_all, cams, psi=psi, resolution=resolution).rgb
