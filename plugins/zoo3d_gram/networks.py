"""GRAM's two networks: the shared manifold predictor s(x) and the FiLM-SIREN radiance generator.

Both take world points; each applies GRAM's UniformBoxWarp (scale 2 / 0.24) itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.nn.siren import (ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork, film_affine, film_sine,
                            frequency_init, linear)

__all__ = ["FoldedRadiance", "ManifoldPredictor", "RadianceNetwork", "widened_sigmoid"]


def widened_sigmoid(x: Tensor, eps: float = 1e-3) -> Tensor:
    """GRAM's ``sigmoid(x) * (1 + 2 eps) - eps``: colours can reach 0 and 1 with finite logits."""
    return torch.sigmoid(x) * (1 + 2 * eps) - eps


class ManifoldPredictor(nn.Module):
    """The scalar field s(x) whose level sets are the radiance manifolds; shared by every instance (no z).

    ``s = MLP(p * 2 / box_size - center)``: ``layers`` x (Linear + ReLU) of width ``hidden``, then
    Linear(hidden, 1). SAL-like geometric init: hidden weights ~ N(0, sqrt(2 / out)), biases 0, output
    weights all ``init_scale * sqrt(pi / hidden)``, output bias ``-init_radius``. With zero biases the
    net is positively homogeneous and s ~ init_scale * |x_warped| (concentric spheres about the centre).

    forward(p (..., 3) world) -> s (...), always computed in fp32 (autocast off): the level crossings
    are found from differences of s between neighbouring samples (~0.3 apart at 64 samples), which
    bf16's 8-bit mantissa (steps of 0.125 at s ~ 20) would quantise. The MLP is small, so this is cheap.
    """

    def __init__(self, hidden: int = 128, layers: int = 3, box_size: float = 0.24,
                 center: tuple[float, float, float] = (0.0, 0.0, -1.5), init_scale: float = 10.0,
                 init_radius: float = 0.0):
        super().__init__()
        dims = [3] + [hidden] * layers
        self.hidden = nn.ModuleList([nn.Linear(dims[i], dims[i + 1]) for i in range(layers)])
        self.out = nn.Linear(hidden, 1)
        self.warp_scale = 2.0 / box_size
        self.register_buffer("center", torch.tensor(center, dtype=torch.float32))
        with torch.no_grad():
            for layer in self.hidden:
                layer.weight.normal_(0.0, math.sqrt(2.0 / layer.out_features))
                layer.bias.zero_()
            self.out.weight.fill_(init_scale * math.sqrt(math.pi / hidden))
            self.out.bias.fill_(-init_radius)

    def warp(self, p: Tensor) -> Tensor:
        """World points (..., 3) -> the MLP's input frame (warped units, centred)."""
        return p * self.warp_scale - self.center.to(p)

    def forward(self, p: Tensor) -> Tensor:
        with torch.autocast(p.device.type, enabled=False):
            h = self.warp(p.to(self.out.weight.dtype))  # the weights' precision: fp32 under autocast, fp64 in fp64
            for layer in self.hidden:
                h = linear(h, layer.weight, layer.bias, relu=True)
            return self.out(h).squeeze(-1)


class RadianceNetwork(nn.Module):
    """GRAM's radiance generator (GramRF): pi-GAN mapping + FiLM-SIREN trunk with summed per-layer heads.

    Trunk layer i (0-based, ``num_layers`` of them) gives x_i. sigma sums ``num_layers - 1`` heads
    Linear(hidden, 1) on x_1 .. x_last; rgb sums heads Linear(hidden, 3) on x_1 .. x_{last-1} plus one
    on the colour FiLM layer applied to concat(ray_dir, x_last) (the only view-dependent term).
    ``feature_dim`` > 0 adds summed heads Linear(hidden, feature_dim) on x_1 .. x_last (GRAM-HD).
    The mapping network drives ``num_layers + 1`` FiLM layers (trunk + colour).

    ``autocast`` False runs the network in fp32 even under mixed precision (bf16 rounds each SIREN
    argument ``freq * (Wx + b)`` by ~0.1 rad at freq ~30).

    style(z (B, z_dim)) -> (freq, phase), each (B, num_layers + 1, hidden).
    forward(p (B, Q, 3) world, dirs (B, Q, 3) unit, freq, phase) -> (rgb (B, Q, 3) in [0, 1],
        sigma (B, Q, 1) >= 0, features (B, Q, feature_dim) or None).
    """

    def __init__(self, z_dim: int = 256, mapping_hidden: int = 256, mapping_layers: int = 3, hidden: int = 256,
                 num_layers: int = 8, feature_dim: int = 0, box_size: float = 0.24, freq_scale: float = 15.0,
                 freq_bias: float = 30.0, autocast: bool = True):
        super().__init__()
        self.autocast = autocast
        self.num_film = num_layers + 1
        self.mapping = PiGanMappingNetwork(z_dim, mapping_hidden, self.num_film, hidden, mapping_layers,
                                           freq_scale=freq_scale, freq_bias=freq_bias)
        self.trunk = FiLMSirenTrunk(3, hidden, num_layers)
        self.color_layer = ColorFiLMLayer(hidden, hidden)
        self.sigma_heads = nn.ModuleList([nn.Linear(hidden, 1) for _ in range(num_layers - 1)])
        self.rgb_heads = nn.ModuleList([nn.Linear(hidden, 3) for _ in range(num_layers - 1)])
        self.feature_heads = (nn.ModuleList([nn.Linear(hidden, feature_dim) for _ in range(num_layers - 1)])
                              if feature_dim > 0 else None)
        for heads in (self.sigma_heads, self.rgb_heads, self.feature_heads):
            if heads is not None:
                heads.apply(frequency_init(25.0))
        self.warp_scale = 2.0 / box_size
        self.z_dim, self.hidden_dim, self.feature_dim = z_dim, hidden, feature_dim

    def style(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.mapping(z)

    def forward(self, p: Tensor, dirs: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        return self.forward_folded(p, dirs, self.fold(freq, phase))

    def fold(self, freq: Tensor, phase: Tensor) -> FoldedRadiance:
        """This network's weights with the FiLM parameters (B, L, hidden) folded in (:class:`FoldedRadiance`)."""
        if not self.autocast and torch.is_autocast_enabled(freq.device.type):
            with torch.autocast(freq.device.type, enabled=False):
                return self.fold(freq.float(), phase.float())
        layers = self.trunk.layers
        trunk = [film_affine(f.layer, freq[:, i], phase[:, i], self.warp_scale if i == 0 else 1.0)
                 for i, f in enumerate(layers)]
        a, c = film_affine(self.color_layer.layer, freq[:, -1], phase[:, -1])
        d = self.color_layer.dir_dim
        heads, head_bias, color_head = self._stacked_heads(freq.dtype)
        return FoldedRadiance(trunk, a[:, :, d:].contiguous(), a[:, :, :d].contiguous(), c, heads, head_bias,
                              color_head)

    def forward_folded(self, p: Tensor, dirs: Tensor, folded: FoldedRadiance) -> tuple[Tensor, Tensor, Tensor | None]:
        """The forward pass from :meth:`fold`'s weights (the same FiLM parameters for any number of queries)."""
        if not self.autocast and torch.is_autocast_enabled(p.device.type):
            with torch.autocast(p.device.type, enabled=False):
                return self._forward(p.float(), dirs.float(), folded)
        return self._forward(p, dirs, folded)

    def _forward(self, p: Tensor, dirs: Tensor, f: FoldedRadiance) -> tuple[Tensor, Tensor, Tensor | None]:
        """Every FiLM layer one GEMM + sine (:func:`~zoo3d.nn.siren.film_sine`); each layer's heads one
        (hidden -> 1 + 3 + F) GEMM accumulated as the trunk goes, so only two activations are ever alive."""
        B, Q, _ = p.shape
        graph = torch.is_grad_enabled()
        x = p
        acc = None
        for i, (a, c) in enumerate(f.trunk):
            x = film_sine(x, a, c)
            if i == 0:
                continue
            flat = x.reshape(B * Q, -1)
            if acc is None:
                acc = linear(flat, f.heads[i - 1], f.head_bias)
            elif graph:
                acc = torch.addmm(acc, flat, f.heads[i - 1].t().to(flat.dtype))
            else:
                acc.addmm_(flat, f.heads[i - 1].t().to(flat.dtype))
        # the view-dependent colour layer on concat(dir, x_last): its weight split by input rows, no concat
        h = torch.baddbmm(f.color_bias.unsqueeze(1).to(x.dtype), x, f.color_x.transpose(1, 2).to(x.dtype))
        if graph:
            color = torch.sin(torch.baddbmm(h, dirs.to(h.dtype), f.color_dir.transpose(1, 2).to(h.dtype)))
            acc = torch.addmm(acc, color.reshape(B * Q, -1), f.color_head.t().to(acc.dtype))
        else:
            color = h.baddbmm_(dirs.to(h.dtype), f.color_dir.transpose(1, 2).to(h.dtype)).sin_()
            acc.addmm_(color.reshape(B * Q, -1), f.color_head.t().to(color.dtype))
        acc = acc.reshape(B, Q, -1)
        sigma, rgb = acc[..., :1], acc[..., 1:4]
        features = acc[..., 4:] if self.feature_heads is not None else None
        return widened_sigmoid(rgb), F.softplus(sigma), features

    def _stacked_heads(self, dtype: torch.dtype) -> tuple[list[Tensor], Tensor, Tensor]:
        """Per trunk layer x_1 .. x_last a (1 + 3 + F, hidden) matrix [sigma; rgb; features] (x_last's rgb rows
        zero: its rgb head reads the colour layer), the colour layer's matrix (rgb rows only) and the sum of
        every head's bias."""
        n = len(self.sigma_heads)
        hidden = self.hidden_dim
        zeros_rgb = self.rgb_heads[0].weight.new_zeros(3, hidden)
        heads = []
        for j in range(n):
            rows = [self.sigma_heads[j].weight, self.rgb_heads[j].weight if j < n - 1 else zeros_rgb]
            if self.feature_heads is not None:
                rows.append(self.feature_heads[j].weight)
            heads.append(torch.cat(rows).to(dtype))
        color = torch.cat([self.sigma_heads[0].weight.new_zeros(1, hidden), self.rgb_heads[-1].weight,
                           *([zeros_rgb.new_zeros(self.feature_dim, hidden)] if self.feature_heads is not None
                             else [])]).to(dtype)
        bias = [sum(h.bias for h in self.sigma_heads), sum(h.bias for h in self.rgb_heads)]
        if self.feature_heads is not None:
            bias.append(sum(h.bias for h in self.feature_heads))
        return heads, torch.cat(bias).to(dtype), color


@dataclass
class FoldedRadiance:
    """:class:`RadianceNetwork` for fixed FiLM parameters of B instances, as plain GEMM weights.

    trunk: per FiLM layer (A (B, hidden, in), c (B, hidden)) from :func:`~zoo3d.nn.siren.film_affine` (the
    warp folded into the first); color_x (B, hidden, hidden), color_dir (B, hidden, 3), color_bias (B, hidden):
    the colour layer split by input rows; heads: per trunk layer x_1 .. x_last a (1 + 3 + F, hidden) matrix
    [sigma; rgb; features]; head_bias (1 + 3 + F,) the sum of every head's bias; color_head (1 + 3 + F, hidden).
    """

    trunk: list[tuple[Tensor, Tensor]]
    color_x: Tensor
    color_dir: Tensor
    color_bias: Tensor
    heads: list[Tensor]
    head_bias: Tensor
    color_head: Tensor
