"""GramGenerator: z -> GramRepresentation -> image through the shared ManifoldRenderer."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.nn.siren import truncate_film
from zoo3d.render.manifold import ManifoldRenderer

from zoo3d_gram.config import GeneratorConfig
from zoo3d_gram.networks import ManifoldPredictor, RadianceNetwork
from zoo3d_gram.representation import GramRepresentation

__all__ = ["GramGenerator"]

_AVERAGE_STYLE_SEED = 0x6A7A


class GramGenerator(Generator):
    """GRAM's generator: a shared manifold predictor, a FiLM-SIREN radiance network, 23 levels + background.

    represent(z (B, z_dim), psi) -> GramRepresentation; psi < 1 lerps the FiLM parameters towards
    their mean over ``truncation_samples`` latents (recomputed whenever the mapping weights change).
    render(rep, cameras, resolution) -> RenderOutput (rgb in [-1, 1], depth = distance along the ray).
    """

    def __init__(self, config: GeneratorConfig | None = None, camera_prior: CameraPrior | None = None):
        super().__init__()
        cfg = config or GeneratorConfig()
        m, r, rc = cfg.manifold, cfg.radiance, cfg.render
        self.config = cfg
        self.manifold = ManifoldPredictor(m.hidden, m.layers, m.box_size, m.center, m.init_scale, m.init_radius)
        self.radiance_net = RadianceNetwork(r.z_dim, r.mapping_hidden, r.mapping_layers, r.hidden, r.num_layers,
                                            r.feature_dim, r.box_size or m.box_size, r.freq_scale, r.freq_bias,
                                            r.autocast)
        self.renderer = ManifoldRenderer(rc.num_samples, rc.near, rc.far, rc.chunk, align_corners=rc.align_corners,
                                         white_background=rc.white_background)
        self.register_buffer("levels", torch.linspace(m.level_start, m.level_end, m.num_levels))
        self.background_z = m.background_z
        self.delta_alpha = r.delta_alpha
        self.truncation_samples = r.truncation_samples
        self.z_dim = r.z_dim
        self.resolution = (cfg.resolution, cfg.resolution)
        self.camera_prior = camera_prior or CameraPrior()
        self._average_style_cache: tuple[tuple, Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ style
    def average_style(self) -> tuple[Tensor, Tensor]:
        """Mean (freq, phase), each (1, L, hidden), over ``truncation_samples`` fixed latents (GRAM's get_avg_w)."""
        params = tuple(self.radiance_net.mapping.parameters())
        key = tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params)
        if self._average_style_cache is None or self._average_style_cache[0] != key:
            rng = torch.Generator().manual_seed(_AVERAGE_STYLE_SEED)
            freq, phase = self.radiance_net.mapping.average(self.truncation_samples, generator=rng)
            self._average_style_cache = (key, freq, phase)
        return self._average_style_cache[1], self._average_style_cache[2]

    def style(self, z: Tensor, psi: float = 1.0) -> tuple[Tensor, Tensor]:
        """z (B, z_dim) -> FiLM (freq, phase), each (B, L, hidden), truncated towards the mean when psi < 1."""
        freq, phase = self.radiance_net.style(z)
        if psi != 1.0:
            avg_freq, avg_phase = self.average_style()
            freq, phase = truncate_film(freq, phase, avg_freq, avg_phase, psi)
        return freq, phase

    # ------------------------------------------------------------------ Generator
    def represent(self, z: Tensor, psi: float = 1.0) -> GramRepresentation:
        freq, phase = self.style(z, psi)
        return self.representation_from_style(freq, phase)

    def representation_from_style(self, freq: Tensor, phase: Tensor) -> GramRepresentation:
        """The scene of given FiLM parameters (B, L, hidden) (for inverters and style mixing)."""
        rc = self.config.render
        return GramRepresentation(self.manifold, self.radiance_net, freq, phase, self.levels,
                                  self.background_z, self.delta_alpha, bounds=(rc.far - rc.near) / 2)

    def render(self, representation: GramRepresentation, cameras: Camera,
               resolution: tuple[int, int] | int | None = None) -> RenderOutput:
        if resolution is None and cameras.resolution is None:
            resolution = self.resolution
        return self.renderer.render(representation, cameras, resolution)
