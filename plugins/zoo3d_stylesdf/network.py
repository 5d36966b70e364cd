"""StyleSDF's volume renderer network: mapping z -> w, FiLM-SIREN SDF trunk, view-dependent colour and features.

Upstream facts (royorel/StyleSDF ``volume_renderer.py``, ``model.py``): w = 3 x [Linear + leaky-ReLU 0.2]
(``MappingLinear`` calls ``fused_leaky_relu`` with ``scale=1``: no sqrt(2) gain; no PixelNorm); each
FiLM-SIREN layer gets its own ``freq = 15 * Linear(w) + 30`` and ``phase = 0.25 * Linear(w)``; the
trunk sees ``p * 2 / (far - near)``; the SDF is a linear head on the last hidden layer; a FiLM-SIREN
view layer on (hidden, dir) gives the feature vector that is volume rendered for the 2D decoder, and a
linear head + sigmoid on it gives rgb. zoo3d's view layer takes (dir, hidden), as pi-GAN's does; the
importer permutes the weight's columns.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.core.representation import Radiance
from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, frequency_init


class _FusedLeakyLinear(nn.Linear):
    """Linear + leaky-ReLU(0.2) (unscaled, as upstream); Kaiming-normal (a=0.2) weights, bias U(+-sqrt(1/in))."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__(in_dim, out_dim)
        nn.init.kaiming_normal_(self.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        bound = math.sqrt(1.0 / in_dim)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(super().forward(x), 0.2)


class StyleSDFMapping(nn.Module):
    """z (B, z_dim) -> w (B, z_dim): ``num_layers`` linear + leaky-ReLU layers."""

    def __init__(self, z_dim: int, num_layers: int = 3):
        super().__init__()
        self.net = nn.Sequential(*[_FusedLeakyLinear(z_dim, z_dim) for _ in range(num_layers)])
        self.z_dim = z_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    @torch.no_grad()
    def average(self, num_samples: int = 10000, seed: int = 0) -> Tensor:  # noqa: D401
        """Mean w (1, z_dim) over ``num_samples`` fixed latents (the truncation centre)."""
        p = self.net[0].weight
        z = torch.randn(num_samples, self.z_dim, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float32).to(p)
        return self(z).mean(0, keepdim=True)


class StyleSDFNetwork(nn.Module):
    """The SDF/colour MLP driven by w.

    Args:
        w_dim: style size. depth: FiLM-SIREN trunk layers (8). width: hidden/feature size (256).
        input_scale: points are multiplied by it before the trunk (2 / (far - near)).

    film(w) -> (freq, phase), each (B, depth + 1, width) (the last slice drives the view layer); w is one
    (B, w_dim) for all, or (B, depth + 1, w_dim), one per layer (W+).
    forward(points (B, P, 3) world, dirs (B, P, 3), freq, phase) -> sdf (B, P, 1) world units,
    rgb (B, P, 3) in [0, 1], features (B, P, width).
    """

    def __init__(self, w_dim: int = 256, depth: int = 8, width: int = 256, input_scale: float = 1.0 / 0.12):
        super().__init__()
        self.trunk = FiLMSirenTrunk(3, width, depth)
        self.view = ColorFiLMLayer(width, width)
        self.film_freq = nn.ModuleList([nn.Linear(w_dim, width) for _ in range(depth + 1)])
        self.film_phase = nn.ModuleList([nn.Linear(w_dim, width) for _ in range(depth + 1)])
        self.sdf_head = nn.Linear(width, 1)
        self.rgb_head = nn.Linear(width, 3)
        self.sdf_head.apply(frequency_init(25.0))
        self.rgb_head.apply(frequency_init(25.0))
        for lin in [*self.film_freq, *self.film_phase]:  # 0.25 x Kaiming-normal, bias U(+-sqrt(1/in)) (upstream)
            nn.init.kaiming_normal_(lin.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
            with torch.no_grad():
                lin.weight.mul_(0.25)
            bound = math.sqrt(1.0 / w_dim)
            nn.init.uniform_(lin.bias, -bound, bound)
        self.input_scale, self.depth, self.width = input_scale, depth, width

    def film(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """w (B, w_dim), read by every layer, or one per layer (B, depth + 1, w_dim) -> (freq, phase)."""
        per_layer = [w[:, i] for i in range(self.depth + 1)] if w.dim() == 3 else [w] * (self.depth + 1)
        freq = torch.stack([15.0 * lin(x) + 30.0 for lin, x in zip(self.film_freq, per_layer)], dim=1)
        phase = torch.stack([0.25 * lin(x) for lin, x in zip(self.film_phase, per_layer)], dim=1)
        return freq, phase

    def sdf(self, points: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        """-> (sdf (B, P, 1), last hidden (B, P, width))."""
        hidden = self.trunk(points * self.input_scale, freq, phase)[-1]
        return self.sdf_head(hidden), hidden

    def forward(self, points: Tensor, dirs: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        sdf, hidden = self.sdf(points, freq, phase)
        features = self.view(hidden, dirs, freq[:, -1], phase[:, -1])
        return sdf, torch.sigmoid(self.rgb_head(features)), features


class StyleSDFField:
    """A batch of StyleSDF scenes: a FieldRepresentation of kind ``"sdf"``.

    ``sdf_sharpness`` is the learnable alpha of sigma = sigmoid(-d / alpha) / alpha (a 0-d tensor
    parameter shared by all instances). With ``record = True`` every query keeps its points (as
    gradient leaves) and SDF values in ``recorded`` so the eikonal and minimal-surface losses can
    be taken at the renderer's own samples (as upstream). ``w`` is (B, w_dim), or one per FiLM layer
    (B, depth + 1, w_dim); ``decoder_ws`` (B, decoder num_ws, decoder w_dim), where given, are the decoder's own
    codes (W+), read in place of its mapping of ``w``.
    """

    kind = "sdf"

    def __init__(self, network: StyleSDFNetwork, w: Tensor, sdf_sharpness: Tensor, bounds: float,
                 record: bool = False, psi: float = 1.0, decoder_ws: Tensor | None = None):
        self.network, self.w, self.sdf_sharpness, self.bounds = network, w, sdf_sharpness, bounds
        self.decoder_ws = decoder_ws
        self.psi = psi  # the truncation w was made with (the decoder truncates its own w by it too)
        self.freq, self.phase = network.film(w)
        self.record = record
        self.recorded: list[tuple[Tensor, Tensor]] = []

    @property
    def device(self) -> torch.device:
        return self.w.device

    def __len__(self) -> int:
        return self.w.shape[0]

    def query(self, points: Tensor, dirs: Tensor) -> Radiance:
        if self.record:
            points = points.detach().requires_grad_(True)
        sdf, rgb, features = self.network(points, dirs, self.freq, self.phase)
        if self.record:
            self.recorded.append((points, sdf))
        return Radiance(rgb=rgb, sigma=sdf, features=features)

    def sdf(self, points: Tensor) -> Tensor:
        """SDF (B, P, 1) at world points (B, P, 3)."""
        return self.network.sdf(points, self.freq, self.phase)[0]
