"""StyleSDF's geometry losses and sphere initialisation target.

All take SDF values in world units at world points; gradients are with respect to world points
(as upstream, not the network's normalised input).
"""

from __future__ import annotations

import torch
from torch import Tensor


def sdf_gradient(points: Tensor, sdf: Tensor, create_graph: bool = True) -> Tensor:
    """d sdf / d points (..., 3); ``points`` must be a gradient leaf the sdf was computed from."""
    (grad,) = torch.autograd.grad(sdf.sum(), points, create_graph=create_graph)
    return grad


def eikonal_loss(points: Tensor, sdf: Tensor) -> Tensor:
    """Mean (||grad sdf|| - 1)^2: 0 for an exact signed distance function."""
    return (sdf_gradient(points, sdf).norm(dim=-1) - 1.0).pow(2).mean()


def minimal_surface_loss(sdf: Tensor, beta: float = 100.0) -> Tensor:
    """Mean exp(-beta |sdf|): penalises SDF values near zero away from the surface (spurious surfaces)."""
    return torch.exp(-beta * sdf.abs()).mean()


def sphere_sdf(points: Tensor, radius: float) -> Tensor:
    """Signed distance (..., 1) of world points (..., 3) to the origin-centred sphere of ``radius``."""
    return points.norm(dim=-1, keepdim=True) - radius


def sphere_init_loss(sdf: Tensor, points: Tensor, radius: float) -> Tensor:
    """Upstream's initialisation pass: L1 between the predicted SDF and the sphere's."""
    return (sdf - sphere_sdf(points, radius)).abs().mean()
