"""Ray-manifold intersection by level crossing (GRAM ``get_intersections``) and ray-plane hits.

Rays come as origins/dirs (B, P, 3) with unit dirs, so ``t`` is a world distance. The level
sets of s are found from ``num_samples`` deterministic samples along [near, far]: for level l the
nearest interval where s goes *down* through l, ``(s_h - l <= 0) & (l - s_l <= 0)``, is picked and
the point placed by linear interpolation of s (differentiable w.r.t. s_l and s_h, which is how the
scalar field learns). Rays without a crossing are invalid and sit at the far end.
"""

from __future__ import annotations

import torch
from torch import Tensor

FLAT_SEGMENT_EPS = 0.05  # GRAM: |s_h - s_l| <= 0.05 -> take x_h, no interpolation


def sample_depths(near: float, far: float, num_samples: int, like: Tensor) -> Tensor:
    """GRAM's deterministic samples: linspace(near, far, num_samples) (inclusive), (S,) on like's device/dtype."""
    return torch.linspace(near, far, num_samples, device=like.device, dtype=like.dtype)


def find_level_crossings(s: Tensor, t: Tensor, levels: Tensor,
                         flat_eps: float = FLAT_SEGMENT_EPS) -> tuple[Tensor, Tensor]:
    """Nearest downward crossing of every level along every ray.

    Args:
        s: (B, P, S) scalar field at the samples (may carry grad).
        t: (S,) or (B, P, S) sample distances, increasing.
        levels: (N,) level values.
    Returns:
        t_hit (B, P, N): interpolated crossing distance (the far sample where there is none);
        valid (B, P, N) bool.
    """
    S = s.shape[-1]
    t = t.expand_as(s)
    lv = levels.to(s.dtype)
    s_l, s_h = s[..., :-1].unsqueeze(-1), s[..., 1:].unsqueeze(-1)  # (B, P, S-1, 1)
    with torch.no_grad():
        crossing = (s_h <= lv) & (s_l >= lv)  # (B, P, S-1, N)
        valid = crossing.any(dim=-2)  # (B, P, N)
        first = torch.argmax(crossing.to(torch.uint8), dim=-2)  # first True (argmax returns the first max)
        first = torch.where(valid, first, torch.full_like(first, S - 2))  # GRAM: misses land on the last interval
    s_lo, s_hi = s.gather(-1, first), s.gather(-1, first + 1)
    t_lo, t_hi = t.gather(-1, first), t.gather(-1, first + 1)
    ds = s_hi - s_lo
    steep = ds.abs() > flat_eps
    safe = torch.where(steep, ds, torch.ones_like(ds))
    t_interp = ((s_hi - lv) * t_lo + (lv - s_lo) * t_hi) / safe
    t_hit = torch.where(steep, t_interp, t_hi)
    return t_hit, valid


def intersect_manifolds(rep, origins: Tensor, dirs: Tensor, near: float = 0.88, far: float = 1.12,
                        num_samples: int = 64) -> tuple[Tensor, Tensor, Tensor]:
    """Intersect rays with every level set of ``rep.scalar``.

    Args:
        rep: a ManifoldRepresentation (``scalar(x (B, P, 3)) -> (B, P)``, ``levels`` (N,)).
        origins, dirs: (B, P, 3) world rays, dirs unit length.
    Returns:
        points (B, N, P, 3) on manifold n (index = level index), valid (B, N, P) bool,
        t (B, N, P) distance from the origin. Sample positions are built without grad; gradients
        reach s only through the interpolation.
    """
    B, P, _ = origins.shape
    with torch.no_grad():
        t_samples = sample_depths(near, far, num_samples, origins)
        x = origins.unsqueeze(-2) + t_samples[:, None] * dirs.unsqueeze(-2)  # (B, P, S, 3)
    s = rep.scalar(x.reshape(B, P * num_samples, 3)).reshape(B, P, num_samples)
    t_hit, valid = find_level_crossings(s, t_samples, rep.levels)
    points = origins.unsqueeze(-2) + t_hit.unsqueeze(-1) * dirs.unsqueeze(-2)  # (B, P, N, 3)
    return points.transpose(1, 2), valid.transpose(1, 2), t_hit.transpose(1, 2)


def intersect_plane_z(origins: Tensor, dirs: Tensor, z: float) -> tuple[Tensor, Tensor]:
    """Analytic hit of rays (B, P, 3) with the plane {z = const}: t (B, P) and hit (B, P) bool (t > 0)."""
    dz = dirs[..., 2]
    hit = dz.abs() > 1e-12
    t = (z - origins[..., 2]) / torch.where(hit, dz, torch.ones_like(dz))
    hit = hit & (t > 0)
    return torch.where(hit, t, torch.zeros_like(t)), hit
