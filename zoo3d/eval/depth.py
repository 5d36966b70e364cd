"""The ``depth`` metric: do the depth maps of different views describe one surface? (StyleSDF)

Per instance: render ``depth_views`` views (yaw evenly in [-r, r] around the model's centre view); back-project each
view's depth (distance along the unit ray) to a world point cloud of its foreground
(alpha > 0.5); for every pair of views, the modified Chamfer distance is the mean, over the
points of each cloud that project inside the other view's foreground, of the distance to the
nearest point of the other cloud, averaged over both directions. Reported in units of the
camera radius x 1e3, averaged over pairs (lower = more consistent).

At most ``MAX_POINTS`` of each direction's co-visible points are scored (a seeded subset), but their nearest
neighbours are searched in the other view's whole cloud: two subsampled clouds would put a floor under the
score that grows with the resolution (identical views scored 2.1 at 128 px), ranking a consistent model
below an inconsistent one at 256 px.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.errors import counted
from zoo3d.eval.metric import (EvalContext, EvalModel, Metric, NotApplicable, instance_latent,
                               model_resolution, note_upsampler, render_instance)

MAX_POINTS = 2048


def surface_depth(depth: Tensor, alpha: Tensor, foreground_depth: Tensor | None = None) -> Tensor:
    """The distance to the foreground surface: the renderer's sum w t over the foreground divided by its sum w
    (alpha). A renderer's ``depth`` is sum w t undivided, and the manifold renderer's also sums its background
    plane (it then gives ``foreground_depth``), so where a pixel is not opaque ``depth`` lies nearer (volume) or
    farther (manifolds) than the surface it shows."""
    numerator = depth if foreground_depth is None else foreground_depth
    return numerator / alpha.clamp_min(1e-6)


def backproject(depth: Tensor, alpha: Tensor, cameras: Camera) -> list[Tensor]:
    """Foreground world points per view: list of (P_v, 3) from depth/alpha (V, 1, H, W)."""
    v, _, h, w = depth.shape
    origins, dirs = cameras.rays(h, w)
    points = origins + dirs * depth.reshape(v, -1, 1)
    mask = alpha.reshape(v, -1) > 0.5
    return [points[i][mask[i]] for i in range(v)]


def _subsample(points: Tensor, n: int, seed: int) -> Tensor:
    if points.shape[0] <= n:
        return points
    idx = torch.randperm(points.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return points[idx.to(points.device)]


def _covisible(points: Tensor, camera: Camera, alpha: Tensor) -> Tensor:
    """Mask of points (P, 3) that land on the foreground (alpha (1, H, W) > 0.5) of ``camera``."""
    uv, z = camera.project(points[None])
    h, w = alpha.shape[-2:]
    col = (uv[0, :, 0] * w).floor().long()
    row = (uv[0, :, 1] * h).floor().long()
    inside = (z[0] > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    fg = torch.zeros_like(inside)
    fg[inside] = alpha[0, row[inside], col[inside]] > 0.5
    return fg


def nearest_distance(points: Tensor, cloud: Tensor, chunk: int = 512) -> Tensor:
    """Distance (P,) from each point to its nearest point of ``cloud`` (Q, 3), ``chunk`` points at a time."""
    return torch.cat([torch.cdist(points[s:s + chunk], cloud).min(dim=1).values
                      for s in range(0, points.shape[0], chunk)]) if points.shape[0] else points.new_zeros(0)


def modified_chamfer(a: Tensor, b: Tensor, cam_a: Camera, cam_b: Camera, alpha_a: Tensor, alpha_b: Tensor,
                     max_points: int | None = None, seed: int = 0) -> Tensor:
    """Symmetric mean nearest-neighbour distance over co-visible points of two whole clouds (P, 3); with
    ``max_points``, a seeded subset of each side's co-visible points is scored against the other whole cloud."""
    a_vis, b_vis = a[_covisible(a, cam_b, alpha_b)], b[_covisible(b, cam_a, alpha_a)]
    if a_vis.shape[0] == 0 or b_vis.shape[0] == 0:
        return torch.tensor(float("nan"), device=a.device)
    if max_points is not None:
        a_vis, b_vis = _subsample(a_vis, max_points, seed), _subsample(b_vis, max_points, seed + 1)
    return 0.5 * (nearest_distance(a_vis, b).mean() + nearest_distance(b_vis, a).mean())


def depth_consistency(depth: Tensor, alpha: Tensor, cameras: Camera, seed: int = 0) -> Tensor:
    """Mean modified Chamfer over all view pairs, in units of the mean camera distance x 1e3."""
    clouds = backproject(depth, alpha, cameras)
    scores = [modified_chamfer(clouds[i], clouds[j], cameras[i], cameras[j], alpha[i], alpha[j], MAX_POINTS,
                               seed + 2 * (i * len(clouds) + j))
              for i, j in combinations(range(len(clouds)), 2)]
    scores = torch.stack(scores)
    scale = cameras.origins.norm(dim=-1).mean()
    return scores[torch.isfinite(scores)].mean() / scale * 1e3


class DepthMetric(Metric):
    name = "depth"
    higher_is_better = False
    requires = ("depth",)

    def evaluate(self, model: EvalModel, ctx: EvalContext) -> dict[str, list[float]]:
        from zoo3d.eval.metric import protocol_cameras

        gen, proto = model.generator, ctx.protocol
        res = model_resolution(gen, proto.resolution)
        cameras = protocol_cameras(gen, proto, proto.depth_views, proto.depth_yaw_range).to(device=ctx.device)
        values, unscored, alpha_max = [], [], 0.0
        for seed in ctx.seeds:
            out = render_instance(gen, instance_latent(gen, seed, ctx.device), cameras, res, psi=proto.psi_consistency)
            if out["depth"] is None or out["alpha"] is None:
                raise NotApplicable(f"{model.name} renders no depth/alpha")
            depth = surface_depth(out["depth"], out["alpha"], out.get("foreground_depth"))
            values.append(float(depth_consistency(depth, out["alpha"], cameras, seed)))
            if not math.isfinite(values[-1]):
                unscored.append(seed)
                alpha_max = max(alpha_max, float(out["alpha"].max()))
            ctx.advance(1)
        if unscored:  # its cell read '-' (or counted fewer instances) with nothing to say why
            seeds = f"{'seed' if len(unscored) == 1 else 'seeds'} {', '.join(map(str, unscored))}"
            ctx.notes.append(f"depth of {model.name}: no two of its views share a foreground (alpha > 0.5) in "
                             f"{counted(len(unscored), 'instance')} ({seeds}; alpha reaches {alpha_max:.2f} there), "
                             f"left out of its depth score.")
        # its depth maps come from before the upsampler
        note_upsampler(model, ctx, "depth scores the depth of its 3D render, not its final rgb")
        return {"depth": values}

    def protocol_info(self, ctx: EvalContext) -> dict[str, Any]:
        p = ctx.protocol
        return {"views": p.depth_views, "yaw_range": p.depth_yaw_range, "foreground": "alpha > 0.5",
                "depth": "foreground sum w t / alpha (the surface's distance)",
                "max_points": MAX_POINTS, "neighbours": "in the other view's whole cloud",
                "units": "camera radius x 1e3 (lower is better)"}
