"""Tri-plane feature sampling: project 3D points onto the XY, XZ and YZ planes and read them bilinearly.

Upstream EG3D's third projection is effectively ZX (a transposed XZ: z along the width, x along the
height) instead of YZ, a known slip kept there for checkpoint compatibility; zoo3d uses the three
axis-aligned planes as intended, and reads the third plane as ZX (``third_plane="zx"``) only for
models imported from EG3D, whose planes were trained that way.

Plane ``k`` is an image (C, R, R) whose width axis carries the first coordinate of
``PLANE_AXES[k]`` and whose height axis the second, both spanning [-box_warp/2, box_warp/2]
(``grid_sample`` with ``align_corners=False``: texel (i, j) has its centre at
``((2j + 1) / R - 1) * box_warp / 2`` along the width coordinate, likewise i along height).
Points outside the cube read zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: (width axis, height axis) of each plane, as indices into (x, y, z).
PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2))  # XY, XZ, YZ
PLANE_NAMES = ("xy", "xz", "yz")
#: The axes EG3D's projection matrices give its planes: XY, XZ and ZX (the slip).
EG3D_PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 0))
THIRD_PLANES = {"yz": PLANE_AXES, "zx": EG3D_PLANE_AXES}


def project_onto_planes(points: Tensor, box_warp: float, third_plane: str = "yz") -> Tensor:
    """Normalised plane coordinates of world points: (B, P, 3) -> (B, 3, P, 2) in [-1, 1] inside the cube."""
    coords = points * (2.0 / box_warp)
    return torch.stack([coords[..., list(axes)] for axes in THIRD_PLANES[third_plane]], dim=1)


def sample_planes(planes: Tensor, points: Tensor, box_warp: float, third_plane: str = "yz") -> Tensor:
    """Bilinear features of each plane at each point.

    Args:
        planes: (B, 3, C, R, R) in the order of :data:`PLANE_AXES` (:data:`EG3D_PLANE_AXES` with
            ``third_plane="zx"``).
        points: (B, P, 3) world coordinates.
    Returns:
        (B, 3, P, C): the features plane k holds at the projection of each point (zeros outside),
        computed in (at least) float32.
    """
    B, n, C, H, W = planes.shape
    # at least float32: under bf16 autocast, bf16 plane coordinates would be off by about a texel at R = 256
    dtype = torch.promote_types(planes.dtype, torch.float32)
    grid = project_onto_planes(points.to(dtype), box_warp, third_plane)  # (B, 3, P, 2)
    out = F.grid_sample(planes.to(dtype).reshape(B * n, C, H, W), grid.reshape(B * n, 1, -1, 2),
                        mode="bilinear", padding_mode="zeros", align_corners=False)  # (B*3, C, 1, P)
    return out.reshape(B, n, C, -1).transpose(-1, -2)


def aggregate(features: Tensor) -> Tensor:
    """EG3D's aggregation, the mean over the planes (the paper says sum; a factor 3): (B, 3, P, C) -> (B, P, C)."""
    return features.mean(dim=1)


def texel_centre(index: int, resolution: int, box_warp: float) -> float:
    """World coordinate of the centre of texel ``index`` along a plane axis of ``resolution`` texels."""
    return ((2 * index + 1) / resolution - 1.0) * box_warp / 2.0
