"""pi-GAN generator: mapping network -> FiLM-SIREN NeRF -> hierarchical volume rendering.

Upstream facts (marcoamonteiro/pi-GAN ``siren/siren.py``): 8 FiLM-SIREN layers (3 -> 256, 7 x 256 -> 256)
on ``p * 2 / 0.24``; density = Linear(256 -> 1) on the last hidden layer (no activation here; the
renderer applies ReLU); colour = FiLM-SIREN on (ray dir, hidden) -> Linear(256 -> 3) + sigmoid; the
mapping network gives one (freq, phase) pair per FiLM layer (9). Density noise N(0, std) is added
before the activation while training (``nerf_noise``), by the renderer at each integration as upstream's
``fancy_integration`` adds it (``generators/volumetric_rendering.py``): once over the coarse samples for the
importance weights, then afresh over all samples for the image, so a coarse sample's noise in the image is not
the noise that placed the fine samples.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.core.representation import Radiance
from zoo3d.invert.film import FiLMLatentSpaces
from zoo3d.nn.siren import ColorFiLMLayer, FiLMSirenTrunk, PiGanMappingNetwork, frequency_init, truncate_film
from zoo3d.render.volume import SampleDraws, VolumeRenderer

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

    ``density_noise`` > 0: the std of the N(0, density_noise^2) the VolumeRenderer adds to the raw density each
    time it integrates (training regulariser); ``query`` itself answers the noise-free density.
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
        return Radiance(rgb=rgb, sigma=sigma)


class PiGanGenerator(FiLMLatentSpaces, Generator):
    """z (B, z_dim) -> PiGanField -> VolumeRenderer (stratified + importance samples).

    Inverted in z or in W+, the mapping network's per-layer frequencies and phases that pi-GAN's own
    ``inverse_render.py`` optimises (:class:`zoo3d.invert.film.FiLMLatentSpaces`; its mean w over the truncation
    centre's 10000 latents of seed 0).
    """

    #: (number of z, seed) of the truncation centre and of the mean w
    mean_latent_draw = (10000, 0)

    def __init__(self, cfg: PiGanConfig):
        super().__init__()
        n, r = cfg.generator, cfg.generator.rendering
        self.z_dim = n.z_dim
        self.camera_prior: CameraPrior = cfg.camera
        final = cfg.stages[-1].resolution
        self.resolution = (final, final)
        self.bounds = (r.far - r.near) / 2.0  # the cube the rays of radius-1 cameras sample (meshing grid)
        self.mapping = PiGanMappingNetwork(n.z_dim, n.mapping_hidden, n.depth + 1, n.width, n.mapping_layers)
        self.siren = PiGanSiren(n.depth, n.width, 2.0 / n.box_size)
        self.upstream_grid = r.convention == "upstream"
        upstream = dict(spacing="linspace", intervals="differences", importance_bins="midpoints") \
            if self.upstream_grid else {}
        self.renderer = VolumeRenderer(num_samples=r.num_steps, num_importance=r.num_steps if r.hierarchical else 0,
                                       near=r.near, far=r.far, stratified=True,
                                       density_activation=r.density_activation,
                                       background="white" if r.white_background else None,
                                       eval_fill_last=r.eval_last_back, **upstream)
        self.density_noise = 0.0  # set by the training recipe (nerf_noise schedule); 0 for sampling
        self._centre: tuple | None = None

    @property
    def film_mapping(self) -> PiGanMappingNetwork:
        return self.mapping

    @torch.no_grad()
    def truncation_centre(self, num_samples: int = 10000, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Mean (freq, phase), each (1, depth + 1, width), over ``num_samples`` fixed latents (upstream's
        ``generate_avg_frequencies`` draws fresh ones). Cached until the mapping weights change."""
        params = list(self.mapping.parameters())
        key = (params[0].device, params[0].dtype, num_samples, seed, tuple(p._version for p in params))
        if self._centre is None or self._centre[0] != key:
            self._centre = (key, self.mapping.average(num_samples, generator=torch.Generator().manual_seed(seed)))
        return self._centre[1]

    def represent(self, z: Tensor, psi: float = 1.0) -> PiGanField:
        freq, phase = self.mapping(z)
        if psi != 1.0:
            avg_freq, avg_phase = self.truncation_centre()
            freq, phase = truncate_film(freq, phase, avg_freq, avg_phase, psi)
        return self.representation_from_style(freq, phase)

    def representation_from_style(self, freq: Tensor, phase: Tensor) -> PiGanField:
        """The scenes of given FiLM parameters, each (B, depth + 1, width) (the W+ codes' :meth:`represent_ws`)."""
        noise = self.density_noise if self.training else 0.0
        return PiGanField(self.siren, freq, phase, self.bounds, noise)

    def render(self, rep: PiGanField, cameras: Camera, resolution: tuple[int, int] | None = None,
               draws: SampleDraws | None = None) -> RenderOutput:
        """``draws`` replaces the renderer's random draws (see :class:`zoo3d.render.volume.SampleDraws`)."""
        H, W = resolution or self.resolution
        cameras = cameras.to(device=self.device, dtype=self.dtype)  # the renderer takes the field's as they come
        if self.upstream_grid:
            cameras = ndc_grid_cameras(cameras, H, W)
        return self.renderer.render(rep, cameras, (H, W), draws=draws)


def ndc_grid_cameras(cameras: Camera, height: int, width: int) -> Camera:
    """The cameras whose pixel centres at (H, W) fall where pi-GAN's rays do for the same field of view.

    pi-GAN's ray grid is ``linspace(-1, 1, W)`` x ``tan(fov / 2)``: its *edge pixel centres*, not the
    image edges, sit at the field of view. zoo3d's pixel ``j`` is at ``(j + 0.5) / W``, so the focal
    length (in image widths) shrinks by ``(W - 1) / W``: the same rays, a slightly wider image.
    """
    k = cameras.intrinsics.clone()
    k[:, 0, 0] *= (width - 1) / width
    k[:, 1, 1] *= (height - 1) / height
    return Camera(cameras.cam2world, k, cameras.resolution)
