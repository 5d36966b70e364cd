"""pi-GAN generator: mapping network -> FiLM-SIREN NeRF -> hierarchical volume rendering.

Upstream facts (marcoamonteiro/pi-GAN ``siren/siren.py``): 8 FiLM-SIREN layers (3 -> 256, 7 x 256 -> 256)
on ``p * 2 / 0.24``; density = Linear(256 -> 1) on the last hidden layer (no activation here; the
renderer applies ReLU); colour = FiLM-SIREN on (ray dir, hidden) -> Linear(256 -> 3) + sigmoid; the
mapping network gives one (freq, phase) pair per FiLM layer (9). Density noise N(0, std) is added
before the activation while training (``nerf_noise``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.core.representation import Radiance
from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork, frequency_init, truncate_film
from zoo3d.render.volume import VolumeRenderer

from .config import PiGanConfig


class PiGanSiren(nn.Module):
    """points (B, P, 3) world, dirs (B, P, 3), freq/phase (B, depth + 1, width) -> (sigma (B, P, 1) raw, rgb (B, P, 3))."""

    def __init__(self, depth: int, width: int, input_scale: float):
        super().__init__()
        self.trunk = FiLMSirenTrunk(3, width, depth)
        self.sigma_head = nn.Linear(width, 1)
        self.color_layer = ColorFiLMLayer(width, width)
        self.color_head = nn.Linear(width, 3)
        self.sigma_head.apply(frequency_init(25.0))
        self.color_head.apply(frequency_init(25.0))
        self.input_scale = input_scale

    def forward(self, points: Tensor, dirs: Tensor, freq: Tensor, phase: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(points * self.input_scale, freq, phase)[-1]
        sigma = self.sigma_head(hidden)
        rgb = torch.sigmoid(self.color_head(self.color_layer(hidden, dirs, freq[:, -1], phase[:, -1])))
        return sigma, rgb


class PiGanField:
    """A batch of pi-GAN scenes: a FieldRepresentation of kind ``"density"`` (raw density, pre-activation).

    ``density_noise`` > 0 adds N(0, density_noise^2) to the raw density (training regulariser).
    """

    kind = "density"

    def __init__(self, siren: PiGanSiren, freq: Tensor, phase: Tensor, bounds: float, density_noise: float = 0.0):
        self.siren, self.freq, self.phase, self.bounds = siren, freq, phase, bounds
        self.density_noise = density_noise

    @property
    def device(self) -> torch.device:
        return self.freq.device

    def __len__(self) -> int:
        return self.freq.shape[0]

    def query(self, points: Tensor, dirs: Tensor) -> Radiance:
        sigma, rgb = self.siren(points, dirs, self.freq, self.phase)
        if self.density_noise > 0:
            sigma = sigma + torch.randn_like(sigma) * self.density_noise
        return Radiance(rgb=rgb, sigma=sigma)


class PiGanGenerator(Generator):
    """z (B, z_dim) -> PiGanField -> VolumeRenderer (stratified + importance samples)."""

    def __init__(self, cfg: PiGanConfig):
        super().__init__()
        n, r = cfg.pigan.network, cfg.pigan.rendering
        self.z_dim = n.z_dim
        self.camera_prior: CameraPrior = cfg.camera
        final = cfg.pigan.training.curriculum[-1].resolution
        self.resolution = (final, final)
        self.bounds = (r.far - r.near) / 2.0  # the cube the rays of radius-1 cameras sample (meshing grid)
        self.mapping = PiGanMappingNetwork(n.z_dim, n.mapping_hidden, n.depth + 1, n.width, n.mapping_layers)
        self.siren = PiGanSiren(n.depth, n.width, 2.0 / n.box_size)
        self.renderer = VolumeRenderer(num_samples=r.num_steps, num_importance=r.num_steps if r.hierarchical else 0,
                                       near=r.near, far=r.far, stratified=True,
                                       density_activation=r.density_activation,
                                       background="white" if r.white_background else None)
        self.density_noise = 0.0  # set by the training recipe (nerf_noise schedule); 0 for sampling

    def represent(self, z: Tensor, psi: float = 1.0) -> PiGanField:
        freq, phase = self.mapping(z)
        if psi != 1.0:
            avg_freq, avg_phase = self.mapping.average(generator=torch.Generator().manual_seed(0))
            freq, phase = truncate_film(freq, phase, avg_freq, avg_phase, psi)
        noise = self.density_noise if self.training else 0.0
        return PiGanField(self.siren, freq, phase, self.bounds, noise)

    def render(self, rep: PiGanField, cameras: Camera, resolution: tuple[int, int] | None = None) -> RenderOutput:
        return self.renderer.render(rep, cameras, resolution or self.resolution)
