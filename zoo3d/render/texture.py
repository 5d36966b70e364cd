"""Texture mode: a ManifoldRepresentation whose radiance is read from per-manifold 2D maps.

GRAM-HD, Efficient GRAM and GRAMInverter answer radiance this way: geometry stays the scalar field,
and a point on manifold n is coloured by sampling map n at its orthographic (x, y) position.

Texel-centre convention (the same as :mod:`zoo3d.render.gridding`): texel (i, j) of an H x W map is
centred at world ``x = linspace(-e, e, W)[j]``, ``y = linspace(-e, e, H)[i]``, so sampling uses
``grid_sample(..., align_corners=True)`` at (x / e, y / e) and a gridded map is read back exactly at
its texel centres. (Upstream grids with linspace but samples with align_corners=False, half a texel
off; zoo3d does not copy that.) Outside the square the foreground reads zeros (alpha 0).
The background map is sampled at ``bg_invmap(x, y)`` with reflection padding, also corner-aligned.
A bicubic read near an edge takes taps beyond it; those repeat the edge texel (zeros there would
brighten or darken the outermost texel band by the kernel's negative lobes).

Filter: bilinear, as GRAM-HD reads its maps, or bicubic. GRAM-HD's maps have about as many texels across
the gridded square as the image has pixels (0.86 texel a pixel at the head's depth), and a bilinear read
between texel centres halves the image's fine detail; a bicubic read keeps more of it (docs/training.md).
A rasterizer filters bilinearly, so :func:`magnified` turns a bicubic scene into a bilinear one with
maps four times as dense, whose bilinear read follows the bicubic one.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.core.representation import Radiance
from zoo3d.render.gridding import BACKGROUND_Z, bg_invmap


#: The ways a map can be read between its texels (``grid_sample`` modes).
TEXTURE_FILTERS = ("bilinear", "bicubic")


class TexturedManifolds:
    """Manifolds with radiance from textures.

    Args:
        geometry: the scalar field: a callable ``s(x (B, P, 3)) -> (B, P)``, or an object with
            ``scalar`` and ``levels`` (e.g. another ManifoldRepresentation).
        maps: (B, N, C, Ht, Wt) per-manifold maps; channels = rgb (3, [0, 1]), alpha (1, [0, 1]),
            features (C - 4).
        background_map: (B, Cb, Hb, Wb) with rgb first and optional features after, or None.
        levels: (N,) descending levels (taken from ``geometry.levels`` when omitted).
        extent: half-width of the square the maps cover (GRAM-HD: 0.12).
        background_z: world z of the opaque background plane (None without a background map).
        align_corners: True (default) = texel centres at linspace(-extent, extent), as
            :func:`grid_manifolds` lays them out; False = cell-centred maps whose outer texel *edges*
            are at +-extent (e.g. maps made on a pixel grid). Applies to the background map too.
        filter: ``bilinear`` (GRAM-HD's) or ``bicubic`` (the background map too); bicubic overshoots, so
            alpha read bicubically is clamped to [0, 1] (rgb is left as read, as the HR maps' rgb is).
    """

    def __init__(self, geometry, maps: Tensor, background_map: Tensor | None = None, levels: Tensor | None = None,
                 extent: float = 0.12, background_z: float | None = BACKGROUND_Z, align_corners: bool = True,
                 filter: str = "bilinear"):
        self._scalar: Callable[[Tensor], Tensor] = getattr(geometry, "scalar", geometry)
        if levels is None:
            levels = getattr(geometry, "levels", None)
        if levels is None:
            raise ValueError("TexturedManifolds needs levels (pass them or a geometry with .levels)")
        if maps.dim() != 5 or maps.shape[1] != len(levels) or maps.shape[2] < 4:
            raise ValueError(f"maps must be (B, N={len(levels)}, C>=4, H, W); got {tuple(maps.shape)}")
        self.levels = levels.to(device=maps.device)
        self.maps, self.background_map, self.extent = maps, background_map, extent
        if filter not in TEXTURE_FILTERS:
            raise ValueError(f"texture filter must be one of {', '.join(TEXTURE_FILTERS)}; got {filter!r}")
        self.align_corners, self.filter = align_corners, filter
        self.background_z = background_z if background_map is not None else None

    @property
    def batch_size(self) -> int:
        return self.maps.shape[0]

    def scalar(self, x: Tensor) -> Tensor:
        return self._scalar(x)

    def radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        """Sample map n at (x / extent, y / extent) of points (B, N, P, 3) on manifold n."""
        B, N, P, _ = points.shape
        C, Ht, Wt = self.maps.shape[2:]
        grid = (points[..., :2] / self.extent).reshape(B * N, P, 1, 2).to(self.maps.dtype)
        texels = _read(self.maps.reshape(B * N, C, Ht, Wt), grid, self.filter, "zeros",
                       self.align_corners)  # (B*N, C, P, 1)
        texels = texels.reshape(B, N, C, P).transpose(-1, -2)  # (B, N, P, C)
        alpha = texels[..., 3:4] if self.filter == "bilinear" else texels[..., 3:4].clamp(0, 1)
        return Radiance(rgb=texels[..., :3], alpha=alpha, features=texels[..., 4:] if C > 4 else None)

    def background_radiance(self, points: Tensor, dirs: Tensor) -> Radiance:
        """Sample the background map at bg_invmap(x, y) of plane points (B, P, 3) (reflection padding)."""
        B, P, _ = points.shape
        grid = bg_invmap(points[..., :2]).reshape(B, P, 1, 2).to(self.background_map.dtype)
        texels = _read(self.background_map, grid, self.filter, "reflection", self.align_corners)
        texels = texels.squeeze(-1).transpose(1, 2)  # (B, P, Cb)
        return Radiance(rgb=texels[..., :3], features=texels[..., 3:] if texels.shape[-1] > 3 else None)


def _read(maps: Tensor, grid: Tensor, filter: str, outside: str, align_corners: bool) -> Tensor:
    """``grid_sample`` of ``maps`` with ``filter``; a point beyond the square reads ``outside`` ("zeros" or
    "reflection"). A bicubic read's taps beyond the edge repeat the edge texel, as ``F.interpolate``'s do (so
    :func:`magnified` is exact): the point is reflected in, or zeroed, by hand instead of by the padding."""
    if filter == "bilinear":
        return F.grid_sample(maps, grid, mode="bilinear", padding_mode=outside, align_corners=align_corners)
    inside = _reflect(grid) if outside == "reflection" else grid
    texels = F.grid_sample(maps, inside, mode="bicubic", padding_mode="border", align_corners=align_corners)
    if outside == "zeros":
        texels = texels * (grid.abs() <= 1).all(-1).unsqueeze(1).to(texels.dtype)
    return texels


def _reflect(grid: Tensor) -> Tensor:
    """Normalised coordinates mirrored into [-1, 1] at its ends, as ``grid_sample``'s reflection padding does."""
    y = torch.remainder(grid + 1, 4)
    return torch.where(y > 2, 4 - y, y) - 1


def magnify_map(maps: Tensor, factor: int, align_corners: bool = True, mode: str = "bicubic") -> Tensor:
    """Maps (..., C, H, W) read with ``mode`` on a grid ``factor`` times as dense, keeping the texel layout:
    corner-aligned maps get ``(H - 1) * factor + 1`` texels whose every ``factor``-th one is an original
    texel; cell-centred maps get ``H * factor`` over the same square."""
    *lead, C, H, W = maps.shape
    size = ((H - 1) * factor + 1, (W - 1) * factor + 1) if align_corners else (H * factor, W * factor)
    flat = maps.reshape(-1, C, H, W)
    out = F.interpolate(flat, size=size, mode=mode, align_corners=align_corners)
    return out.reshape(*lead, C, *size)


def magnified(textured: TexturedManifolds, factor: int = 4) -> TexturedManifolds:
    """A bilinear :class:`TexturedManifolds` whose maps are ``textured``'s read with its filter ``factor`` times
    as densely (alpha clamped to [0, 1]): what a rasterizer, which filters bilinearly, needs to show a
    bicubic scene. A bilinear scene is returned as it is."""
    if textured.filter == "bilinear":
        return textured
    maps = magnify_map(textured.maps, factor, textured.align_corners, textured.filter)
    maps = torch.cat([maps[:, :, :3], maps[:, :, 3:4].clamp(0, 1), maps[:, :, 4:]], dim=2)
    bg = textured.background_map
    if bg is not None:
        bg = magnify_map(bg, factor, textured.align_corners, textured.filter)
    return TexturedManifolds(textured._scalar, maps, bg, levels=textured.levels, extent=textured.extent,
                             background_z=textured.background_z, align_corners=textured.align_corners)
