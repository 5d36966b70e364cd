"""Manifold gridding (GRAM-HD paper, Sec. 3): lay every manifold out as a 2D texture.

Foreground: orthographic rays along -Z from z = 1 over the square [-extent, extent]^2 hit each level
once (the nearest crossing from +z), so each manifold is a height field over (x, y). Texel (i, j) of
an R x R grid sits at ``x = linspace(-e, e, R)[j]``, ``y = linspace(-e, e, R)[i]``: texel centres
include the borders (corner-aligned), and row index grows with world y (row 0 is y = -e).

Background: the plane z = -0.12 with the centre-dense map ``bg_map`` from texture coordinate
u in [-1, 1] to world x (and v to y): linear (0.24 u) for |u| <= 0.5, ``tan`` beyond.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo3d.render.intersect import intersect_manifolds

BACKGROUND_Z = -0.12
#: Ray samples whose scalar field :func:`grid_manifolds` asks for at once, all instances together: its rays are
#: intersected in groups of ``GRID_CHUNK_POINTS // (batch_size * num_samples)``, so the field's activations stay
#: bounded whatever the grid's side (GRAM's ffhq256 manifold predictor held some 1 KB a sample: its 256² bake of 64
#: samples at once took 4.3 GB).
GRID_CHUNK_POINTS = 2**18
_BG_SCALE = 0.24  # world units per texture unit in the linear centre
_BG_KNEE = 0.12  # world |x| where the linear part ends (|u| = 0.5)


def bg_map(u: Tensor) -> Tensor:
    """Texture coordinate u in [-1, 1] -> world coordinate: 0.24 u for |u| <= 0.5, else sign(u)(0.24 tan(|u| - 0.5) + 0.12)."""
    a = u.abs()
    outer = torch.sign(u) * (_BG_SCALE * torch.tan((a - 0.5).clamp_min(0)) + _BG_KNEE)
    return torch.where(a <= 0.5, _BG_SCALE * u, outer)


def bg_invmap(x: Tensor) -> Tensor:
    """Inverse of :func:`bg_map`: world x -> texture u (x / 0.24 within +-0.12, atan beyond)."""
    a = x.abs()
    outer = torch.sign(x) * (torch.atan((a - _BG_KNEE).clamp_min(0) / _BG_SCALE) + 0.5)
    return torch.where(a <= _BG_KNEE, x / _BG_SCALE, outer)


def fov_extent(fov: float) -> float:
    """GRAM-HD's gridded half-width for cameras of full field of view ``fov`` degrees: ``fov / 100`` (GRAM-HD's
    ``manifold_sr_renderer.py`` grids ``linspace(-fov/100, fov/100)``), 0.12 at its 12 degrees: about the half-width
    a frontal camera at radius 1 sees at the far end of the rays, 1.12 tan(fov / 2) (0.118 at 12 degrees)."""
    return fov / 100


def _pair(resolution) -> tuple[int, int]:
    return (resolution, resolution) if isinstance(resolution, int) else (int(resolution[0]), int(resolution[1]))


def texel_coordinates(resolution, extent: float, device=None, dtype=None) -> tuple[Tensor, Tensor]:
    """World (x, y) of the texel centres, each (H, W): corner-aligned linspace(-extent, extent)."""
    H, W = _pair(resolution)
    ys = torch.linspace(-extent, extent, H, device=device, dtype=dtype)
    xs = torch.linspace(-extent, extent, W, device=device, dtype=dtype)
    return torch.meshgrid(xs, ys, indexing="xy")


def grid_manifolds(rep, resolution, extent: float = 0.12, near: float = 0.88, far: float = 1.12,
                   num_samples: int = 64, batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Intersect orthographic rays along -Z (origins (x, y, 1)) with every level of ``rep``.

    Args:
        rep: a ManifoldRepresentation; its ``scalar`` is queried with batch ``batch_size``
            (default ``rep.batch_size`` if it has one, else 1).
        resolution: texture size R or (H, W); extent: half-width of the gridded square (GRAM-HD:
            :func:`fov_extent`, fov/100 = 0.12). near/far/num_samples: the sampled z range is 1 - far .. 1 - near.
    Returns:
        points (B, N, H, W, 3) world points on manifold n, valid (B, N, H, W) bool.

    The rays go through :func:`~zoo3d.render.intersect.intersect_manifolds` at most :data:`GRID_CHUNK_POINTS`
    samples at a time (each ray's hits do not depend on the others).
    """
    H, W = _pair(resolution)
    ref = rep.levels
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    B = batch_size or getattr(rep, "batch_size", None) or 1
    x, y = texel_coordinates((H, W), extent, device=ref.device, dtype=dtype)
    origins = torch.stack([x, y, torch.ones_like(x)], dim=-1).reshape(1, H * W, 3).expand(B, -1, -1)
    dirs = torch.zeros_like(origins)
    dirs[..., 2] = -1.0
    step = max(1, GRID_CHUNK_POINTS // (B * num_samples))
    hits = [intersect_manifolds(rep, origins[:, s:s + step], dirs[:, s:s + step], near, far, num_samples)[:2]
            for s in range(0, H * W, step)]
    points, valid = (torch.cat(part, dim=2) if len(hits) > 1 else part[0] for part in zip(*hits))
    N = points.shape[1]
    return points.reshape(B, N, H, W, 3), valid.reshape(B, N, H, W)


def background_grid(resolution, z: float = BACKGROUND_Z, device=None, dtype=None) -> Tensor:
    """World points (H, W, 3) of the background texels: (bg_map(u), bg_map(v), z), u, v = linspace(-1, 1)."""
    H, W = _pair(resolution)
    u = torch.linspace(-1, 1, W, device=device, dtype=dtype)
    v = torch.linspace(-1, 1, H, device=device, dtype=dtype)
    uu, vv = torch.meshgrid(u, v, indexing="xy")
    return torch.stack([bg_map(uu), bg_map(vv), torch.full_like(uu, z)], dim=-1)


BG_MAX_EXTENT = _BG_SCALE * math.tan(0.5) + _BG_KNEE  # world half-width covered by the background texture (~0.251)
