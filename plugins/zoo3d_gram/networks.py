"""GRAM's two networks: the shared manifold predictor s(x) and the FiLM-SIREN radiance generator.

Both take world points; each applies GRAM's UniformBoxWarp (scale 2 / 0.24) itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork, frequency_init

__all__ = ["ManifoldPredictor", "RadianceNetwork", "widened_sigmoid"]


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
            h = self.warp(p.float())
            for layer in self.hidden:
                h = F.relu(layer(h))
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
        if not self.autocast and torch.is_autocast_enabled(p.device.type):
            with torch.autocast(p.device.type, enabled=False):
                return self._forward(p.float(), dirs.float(), freq.float(), phase.float())
        return self._forward(p, dirs, freq, phase)

    def _forward(self, p: Tensor, dirs: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        xs = self.trunk(p * self.warp_scale, freq, phase)[1:]  # x_1 .. x_last
        sigma = sum(head(x) for head, x in zip(self.sigma_heads, xs))
        rgb = sum(head(x) for head, x in zip(self.rgb_heads[:-1], xs[:-1]))
        color = self.color_layer(xs[-1], dirs, freq[:, -1], phase[:, -1])
        rgb = rgb + self.rgb_heads[-1](color)
        features = None
        if self.feature_heads is not None:
            features = sum(head(x) for head, x in zip(self.feature_heads, xs))
        return widened_sigmoid(rgb), F.softplus(sigma), features
