"""Batched sphere tracing of a signed distance field along rays, with early-out compaction.

Rays are flat tensors (N, 3). Each ray carries per-ray SDF parameters, stored as rows (K, N) so
that each parameter is contiguous, that the field
function receives alongside the points, so one call traces many instances at once. Every
``compact_every`` steps the finished rays (converged, or past their far bound) are dropped
from the working set, so later steps only pay for the rays still marching.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

#: field(points (M, 3), params (K, M) as rows) -> signed distance (M,)
SDFn = Callable[[Tensor, Tensor], Tensor]


def ray_box(origins: Tensor, dirs: Tensor, lo, hi) -> tuple[Tensor, Tensor]:
    """Entry and exit distances (N,) of rays against the box [lo, hi]; entry > exit when missed."""
    lo_t = origins.new_tensor(lo)
    hi_t = origins.new_tensor(hi)
    inv = 1.0 / torch.where(dirs.abs() < 1e-12, torch.full_like(dirs, 1e-12), dirs)
    t0 = (lo_t - origins) * inv
    t1 = (hi_t - origins) * inv
    near = torch.minimum(t0, t1).amax(-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(-1)
    return near, far


def ray_ellipsoid(origins: Tensor, dirs: Tensor, centre, radii) -> tuple[Tensor, Tensor]:
    """Entry and exit distances (N,) of rays against an axis-aligned ellipsoid; entry > exit when missed."""
    inv_r = 1.0 / origins.new_tensor(radii)
    o = (origins - origins.new_tensor(centre)) * inv_r
    d = dirs * inv_r
    a = (d * d).sum(-1)
    b = (o * d).sum(-1)
    c = (o * o).sum(-1) - 1.0
    disc = b * b - a * c
    root = torch.sqrt(disc.clamp_min(0.0))
    near = ((-b - root) / a).clamp_min(0.0)
    far = torch.where(disc > 0, (-b + root) / a, torch.full_like(a, -1.0))
    return near, far


def sphere_trace(sdf: SDFn, origins: Tensor, dirs: Tensor, params: Tensor, t_near: Tensor, t_far: Tensor,
                 eps: float, steps: int = 64, relax: float = 0.9, compact_every: int = 2) -> tuple[Tensor, Tensor]:
    """March rays (N, 3) from ``t_near`` until the field is below ``eps * t`` or ``t`` passes ``t_far``.

    Returns ``t`` (N,) distances along the (unit) rays and ``hit`` (N,) booleans. ``relax`` < 1
    under-steps, which keeps approximate (non-Lipschitz-exact) fields from tunnelling; polish
    the hits with :func:`newton_refine`.
    """
    n = origins.shape[0]
    t_out = t_near.clone()
    hit_out = torch.zeros(n, dtype=torch.bool, device=origins.device)
    live = torch.nonzero(t_near < t_far).squeeze(-1)
    o, d, p, t, tf = origins[live], dirs[live], params[:, live], t_near[live], t_far[live]
    for step in range(steps):
        if live.numel() == 0:
            break
        dist = sdf(torch.addcmul(o, d, t[:, None]), p)
        converged = dist < eps * t
        t = torch.where(converged, t, t + relax * dist)
        if (step + 1) % compact_every == 0 or step == steps - 1:
            done = converged | (t > tf)
            n_done = int(done.sum())
            # compacting costs a gather of every per-ray tensor: only worth it when many rays finished
            if n_done and (n_done * 16 >= live.numel() or step == steps - 1):
                finished = live[done]
                t_out[finished] = t[done]
                hit_out[finished] = converged[done] & (t[done] <= tf[done])
                keep = torch.nonzero(~done).squeeze(-1)
                live, o, d, t, tf = live[keep], o[keep], d[keep], t[keep], tf[keep]
                p = p.index_select(1, keep)
    return t_out, hit_out


def newton_refine(sdf: SDFn, origins: Tensor, dirs: Tensor, params: Tensor, t: Tensor, iters: int = 2,
                  h: float = 1e-4, guard: bool = True) -> tuple[Tensor, Tensor]:
    """Polish hits: Newton steps on f(t) = sdf(o + t d), and the surface normal, from central differences.

    The last iteration evaluates the field at the six points ``x +- h e_i``: their mean is the
    value (to O(h^2)) and their differences the gradient (the normal); the slope along the ray is
    ``grad . d`` (bounded away from 0 for grazing rays). Earlier iterations need only that slope
    and take it from the two points ``x +- h d`` on the ray. The symmetric stencil keeps a mirrored scene's
    render the exact mirror image. Returns the refined ``t`` (M,) and unit normals (M, 3); with ``iters=0``
    the traced ``t`` and the normals there.

    A ray that only grazes the surface (the tracer accepts rays passing within its tolerance) has a
    slope near 0, and its Newton step can run far along it, even behind the background. Where the
    refined point is farther from the surface than the traced one, the traced ``t`` is kept, with the
    normal taken there (``guard=False`` leaves that out, as the renderer did before: only to replay runs
    recorded on its images).
    """
    m = origins.shape[0]
    eye = h * torch.eye(3, dtype=origins.dtype, device=origins.device)
    stencil = torch.cat([eye, -eye])

    def along(tt: Tensor) -> Tensor:
        return sdf(torch.addcmul(origins, dirs, tt[:, None]), params)

    def six_point(points: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """The field at ``points +- h e_i`` (6, K) and its central-difference gradient (K, 3)."""
        k = points.shape[0]
        vals = sdf((points[None] + stencil[:, None, :]).reshape(6 * k, 3), rows.repeat(1, 6)).reshape(6, k)
        return vals, ((vals[:3] - vals[3:]) / (2 * h)).t()

    def normals_at(o: Tensor, d: Tensor, tt: Tensor, rows: Tensor) -> Tensor:
        return torch.nn.functional.normalize(six_point(torch.addcmul(o, d, tt[:, None]), rows)[1], dim=-1)

    if iters < 1:  # no step, so nothing for the guard to undo: the traced t and the surface normal there
        return t, normals_at(origins, dirs, t, params)
    traced = t
    for i in range(iters):
        if i < iters - 1:
            # only the slope along the ray is needed before the last step: two points, not six
            pts = torch.stack([torch.addcmul(origins, dirs, (t + h)[:, None]),
                               torch.addcmul(origins, dirs, (t - h)[:, None])])
            vals = sdf(pts.reshape(2 * m, 3), params.repeat(1, 2)).reshape(2, m)
            value, slope = vals.mean(0), (vals[0] - vals[1]) / (2 * h)
        else:
            vals, grad = six_point(torch.addcmul(origins, dirs, t[:, None]), params)
            value, slope = vals.mean(0), (grad * dirs).sum(-1)
            normals = torch.nn.functional.normalize(grad, dim=-1)
        t = t - value / slope.clamp(max=-0.05)
    if not guard:
        return t, normals
    worse = torch.nonzero(along(t).abs() > along(traced).abs()).squeeze(-1)
    if worse.numel():
        t = t.index_put((worse,), traced[worse])
        normals = normals.index_put((worse,), normals_at(origins[worse], dirs[worse], traced[worse], params[:, worse]))
    return t, normals
