"""NeuS networks: SDF MLP (positional encoding, geometric init, Softplus beta=100, skip),
colour MLP (position, view direction, normal, feature), learned variance, background.

All networks take points in the normalised scene (the subject inside the unit sphere).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.parametrizations import weight_norm


def positional_encoding(x: Tensor, multires: int) -> Tensor:
    """[x, sin(2^k x), cos(2^k x)] for k < multires: (..., 3) -> (..., 3 (1 + 2 multires))."""
    if multires == 0:
        return x
    freqs = 2.0 ** torch.arange(multires, device=x.device, dtype=x.dtype)
    xf = x[..., None, :] * freqs[:, None]                       # (..., K, 3)
    enc = torch.stack([torch.sin(xf), torch.cos(xf)], dim=-2)   # (..., K, 2, 3)
    return torch.cat([x, enc.flatten(-3)], dim=-1)


def positional_encoding_vjp(encoding: Tensor, grad_encoding: Tensor, multires: int) -> Tensor:
    """The gradient (N, 3) in x of a function whose gradient in ``encoding`` = positional_encoding(x) is
    ``grad_encoding`` (both (N, 3 (1 + 2 multires))).

    Every encoded column depends on one coordinate: d sin(2^k x)/dx = 2^k cos(2^k x), d cos/dx = -2^k sin, read
    from the encoding's own columns rather than computed again.
    """
    grad = grad_encoding[:, :3]
    if multires == 0:
        return grad
    freqs = 2.0 ** torch.arange(multires, device=encoding.device, dtype=encoding.dtype)[:, None]    # (K, 1)
    sin_cos = encoding[:, 3:].reshape(-1, multires, 2, 3)             # the layout of positional_encoding
    g = grad_encoding[:, 3:].reshape(-1, multires, 2, 3)
    return grad + ((g[:, :, 0] * sin_cos[:, :, 1] - g[:, :, 1] * sin_cos[:, :, 0]) * freqs).sum(1)


class SDFNetwork(nn.Module):
    """f(x) -> (sdf (N, 1), feature (N, F)); IDR/NeuS geometric init so f ~ |x| - 0.5 at start.

    ``layers`` hidden layers of ``hidden`` units; the input is re-injected half way (concat / sqrt 2).
    """

    def __init__(self, layers: int = 8, hidden: int = 256, feature_dim: int = 256, multires: int = 6,
                 init_radius: float = 0.5):
        super().__init__()
        self.multires = multires
        in_dim = 3 * (1 + 2 * multires)
        self.skip = layers // 2 if layers >= 4 and hidden > in_dim else None  # skip needs room for the input
        dims = [in_dim] + [hidden] * layers + [1 + feature_dim]
        self.linears = nn.ModuleList()
        for i in range(len(dims) - 1):
            out = dims[i + 1] - in_dim if self.skip is not None and i + 1 == self.skip else dims[i + 1]
            lin = nn.Linear(dims[i], out)
            self._geometric_init(lin, i, len(dims) - 2, in_dim, init_radius)
            self.linears.append(weight_norm(lin))
        self.act = nn.Softplus(beta=100)

    def _geometric_init(self, lin: nn.Linear, i: int, last: int, in_dim: int, radius: float) -> None:
        with torch.no_grad():
            out_dim = lin.out_features
            if i == last:
                nn.init.normal_(lin.weight, mean=math.sqrt(math.pi) / math.sqrt(lin.in_features), std=1e-4)
                nn.init.constant_(lin.bias, -radius)
                return
            nn.init.constant_(lin.bias, 0.0)
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2) / math.sqrt(out_dim))
            if i == 0 and self.multires > 0:
                lin.weight[:, 3:] = 0.0
            elif self.skip is not None and i == self.skip and self.multires > 0:
                lin.weight[:, -(in_dim - 3):] = 0.0

    def _layers(self, inp: Tensor, slopes: list[Tensor] | None) -> tuple[Tensor, list[Tensor], int]:
        """The output (N, 1 + F) for the encoding ``inp``, each layer's weight, and the width the skip layer
        receives before the re-injected input; appends each hidden layer's Softplus slope to ``slopes`` if given."""
        h, weights, kept, last = inp, [], 0, len(self.linears) - 1
        for i, lin in enumerate(self.linears):
            if self.skip is not None and i == self.skip:
                kept = h.shape[-1]
                h = torch.cat([h, inp], dim=-1) / math.sqrt(2)
            weights.append(lin.weight)                  # weight norm recomputes it on every access
            h = F.linear(h, weights[-1], lin.bias)
            if i < last:
                if slopes is not None:
                    slopes.append(torch.sigmoid(self.act.beta * h))
                h = self.act(h)
        return h, weights, kept

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self._layers(positional_encoding(x, self.multires), None)[0]
        return h[..., :1], h[..., 1:]

    def sdf(self, x: Tensor) -> Tensor:
        return self.forward(x)[0]

    def sdf_and_gradient(self, x: Tensor, create_graph: bool) -> tuple[Tensor, Tensor, Tensor]:
        """sdf (N, 1), feature (N, F) and the spatial gradient (N, 3) (the unnormalised normal).

        The gradient is built beside the forward pass from its weights and Softplus slopes, the chain
        e_0 W_L diag(sigmoid(beta z)) ... W_0 d(encoding)/dx, rather than by ``autograd.grad(create_graph=True)``:
        the eikonal loss then differentiates plain products once instead of autograd's graph of a backward pass,
        and the fit step is about 1.15x faster on a CPU (benchmarks/RESULTS.md). The slope sigmoid(beta z) is
        Softplus's derivative up to its linear threshold (beta z > 20, where they differ by under e^-20), so the
        values are autograd's up to rounding. ``create_graph=False`` builds no graph at all (the re-render).
        """
        with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
            x = x.detach()
            inp = positional_encoding(x, self.multires)
            slopes: list[Tensor] = []
            h, weights, kept = self._layers(inp, slopes)
            last = len(weights) - 1
            grad = weights[last][:1].expand(h.shape[0], -1)    # d sdf / d(last hidden layer)
            grad_inp = None
            for i in range(last - 1, -1, -1):
                grad = (grad * slopes[i]) @ weights[i]
                if self.skip is not None and i == self.skip:   # the input re-injected here: (h, inp) / sqrt 2
                    grad_inp = grad[:, kept:] / math.sqrt(2)
                    grad = grad[:, :kept] / math.sqrt(2)
            grad_inp = grad if grad_inp is None else grad_inp + grad
            grad = positional_encoding_vjp(inp, grad_inp, self.multires)
        return h[..., :1], h[..., 1:], grad


class ColorNetwork(nn.Module):
    """c(x, v, n, feature) -> rgb (N, 3) in [0, 1] (NeuS 'idr' mode: view direction is encoded)."""

    def __init__(self, feature_dim: int = 256, layers: int = 4, hidden: int = 256, view_multires: int = 4):
        super().__init__()
        self.view_multires = view_multires
        in_dim = 3 + 3 * (1 + 2 * view_multires) + 3 + feature_dim
        dims = [in_dim] + [hidden] * layers + [3]
        self.linears = nn.ModuleList(weight_norm(nn.Linear(a, b)) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor, view_dirs: Tensor, normals: Tensor, feature: Tensor) -> Tensor:
        h = torch.cat([x, positional_encoding(view_dirs, self.view_multires), normals, feature], dim=-1)
        for i, lin in enumerate(self.linears):
            h = lin(h)
            if i < len(self.linears) - 1:
                h = F.relu(h)
        return torch.sigmoid(h)


class Variance(nn.Module):
    """The learned inverse standard deviation s = exp(10 v) of the logistic density (v init 0.3 -> s ~ 20)."""

    def __init__(self, init: float = 0.3):
        super().__init__()
        self.variance = nn.Parameter(torch.tensor(float(init)))

    def inv_s(self) -> Tensor:
        return torch.exp(self.variance * 10.0).clamp(1e-6, 1e6)


class DirectionalBackground(nn.Module):
    """A simple background model: colour (N, 3) in [0, 1] as a function of the ray direction only.

    Stands in for NeuS's NeRF++ outside field: the generators' backgrounds are far or planar,
    and a direction-only model cannot explain foreground inconsistency, so it does not inflate scores.
    """

    def __init__(self, hidden: int = 32, multires: int = 4):
        super().__init__()
        self.multires = multires
        self.net = nn.Sequential(nn.Linear(3 * (1 + 2 * multires), hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, dirs: Tensor) -> Tensor:
        return torch.sigmoid(self.net(positional_encoding(dirs, self.multires)))
