"""Front-to-back alpha compositing (GRAM eq. 6, NeRF quadrature weights).

Layout: the layer/sample axis is the *last* axis of ``alpha`` and the second-to-last of the
values, i.e. alpha (..., K) and values (..., K, C); layers must already be sorted near to far.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

TRANSMITTANCE_EPS = 1e-10  # GRAM/pi-GAN/StyleSDF: T = exclusive cumprod(1 - alpha + 1e-10)


def exclusive_transmittance(alpha: Tensor, eps: float = TRANSMITTANCE_EPS) -> Tensor:
    """T_k = prod_{j<k} (1 - alpha_j + eps) for alpha (..., K); T_0 = 1."""
    survive = 1.0 - alpha + eps
    ones = torch.ones_like(survive[..., :1])
    return torch.cumprod(torch.cat([ones, survive[..., :-1]], dim=-1), dim=-1)


def compositing_weights(alpha: Tensor, eps: float = TRANSMITTANCE_EPS) -> Tensor:
    """w_k = alpha_k * T_k for alpha (..., K) in [0, 1]."""
    return alpha * exclusive_transmittance(alpha, eps)


@dataclass
class Composite:
    """Result of :func:`composite` for R rays (any leading shape ``...``).

    weights (..., K); rgb (..., 3) = sum w c (colour range of the input, no background);
    depth (..., 1) = sum w t (GRAM-HD convention: not normalised by sum w); acc (..., 1) = sum w;
    features (..., C) = sum w f or None.
    """

    weights: Tensor
    rgb: Tensor
    depth: Tensor | None
    acc: Tensor
    features: Tensor | None = None


def weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """sum_k w_k v_k for weights (..., K) and values (..., K, C) -> (..., C), in the two dtypes' promotion."""
    dtype = torch.promote_types(weights.dtype, values.dtype)
    return (weights.unsqueeze(-2).to(dtype) @ values.to(dtype)).squeeze(-2)


def composite(alpha: Tensor, rgb: Tensor, depth: Tensor | None = None, features: Tensor | None = None,
              eps: float = TRANSMITTANCE_EPS) -> Composite:
    """Composite K sorted layers per ray: C = sum_k T_k alpha_k c_k, T_k = prod_{j<k} (1 - alpha_j).

    Args:
        alpha: (..., K) opacities in [0, 1], sorted near to far along K.
        rgb: (..., K, 3) colours (any range; renderers pass [0, 1]).
        depth: (..., K) distances along the ray, or None.
        features: (..., K, C) or None.
    """
    w = compositing_weights(alpha, eps)
    return Composite(
        weights=w,
        rgb=weighted_sum(w, rgb),
        depth=None if depth is None else (w * depth).sum(-1, keepdim=True),
        acc=w.sum(-1, keepdim=True),
        features=None if features is None else weighted_sum(w, features),
    )
