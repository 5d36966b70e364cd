"""GramGenerator: z -> GramRepresentation -> image through the shared ManifoldRenderer."""

from __future__ import annotations

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.invert.film import FiLMLatentSpaces
from zoo3d.limits import check_texels
from zoo3d.nn.siren import truncate_film
from zoo3d.render.gridding import background_grid, fov_extent, grid_manifolds
from zoo3d.render.manifold import ManifoldRenderer
from zoo3d.render.texture import TexturedManifolds

from zoo3d_gram.config import GeneratorConfig
from zoo3d_gram.networks import ManifoldPredictor, RadianceNetwork
from zoo3d_gram.representation import GramRepresentation

__all__ = ["GramGenerator"]

_AVERAGE_STYLE_SEED = 0x6A7A


class _SharedGeometry:
    """GRAM's scalar field and levels, the part of a :class:`GramRepresentation` the level-crossing search reads."""

    def __init__(self, manifold: ManifoldPredictor, levels: Tensor):
        self.manifold, self.levels = manifold, levels

    def scalar(self, x: Tensor) -> Tensor:
        return self.manifold(x)


class GramGenerator(FiLMLatentSpaces, Generator):
    """GRAM's generator: a shared manifold predictor, a FiLM-SIREN radiance network, 23 levels + background.

    Inverted in z or in W+, the per-layer frequencies and phases of its pi-GAN mapping network
    (:class:`zoo3d.invert.film.FiLMLatentSpaces`; its mean w over :meth:`average_style`'s latents).

    represent(z (B, z_dim), psi) -> GramRepresentation; psi < 1 lerps the FiLM parameters towards
    their mean over ``truncation_samples`` latents (recomputed whenever the mapping weights change).
    render(rep, cameras, resolution) -> RenderOutput (rgb in [-1, 1], depth = distance along the ray).
    textured_layers(rep, camera, texture_resolution) -> the free-view cache's input
    (:class:`zoo3d.freeview.SupportsManifoldCache`): the radiance baked into maps.
    """

    #: The square the free-view cache grids is this many times GRAM-HD's half-width for the prior's fov (fov / 100,
    #: which covers the frontal view only): 0.18 at FFHQ's 12 degrees, where yawed views within the prior see to
    #: |x| ~ 0.16; 0.45 at CARLA's 30 degrees, whose frontal view alone sees to |x| ~ 0.33 at the far end of its rays.
    CACHE_MARGIN = 1.5
    #: Largest grid the cache meshes GRAM's manifolds on (textures may be finer).
    CACHE_MESH_RESOLUTION = 128
    #: Bytes an export holds per texel of each baked map: its grid point, its radiance, the map, the stored texture
    #: (an export of the tiny preset at --texture-resolution 1024 held 60 a texel of its 24 maps above one at 32).
    BAKE_BYTES_PER_TEXEL = 64

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
    @property
    def film_mapping(self):
        return self.radiance_net.mapping

    @property
    def mean_latent_draw(self) -> tuple[int, int]:
        """(number of z, seed) of the mean w: :meth:`average_style`'s."""
        return self.truncation_samples, _AVERAGE_STYLE_SEED

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

    def intersect(self, cameras: Camera, resolution: tuple[int, int] | int | None = None) -> tuple[Tensor, Tensor]:
        """The hits of these cameras' rays at ``resolution`` (:meth:`ManifoldRenderer.intersect`) on the manifolds
        every instance shares: any representation of this generator can be rendered from them (:meth:`render`'s
        ``intersections``; latent optimisation finds them once for all its steps)."""
        if resolution is None and cameras.resolution is None:
            resolution = self.resolution
        return self.renderer.intersect(_SharedGeometry(self.manifold, self.levels), cameras, resolution)

    def render(self, representation: GramRepresentation, cameras: Camera,
               resolution: tuple[int, int] | int | None = None,
               intersections: tuple[Tensor, Tensor] | None = None) -> RenderOutput:
        """``intersections``: the hits of these cameras' rays at ``resolution`` from ``self.renderer.intersect``,
        to render from instead of intersecting again (GRAM-HD reuses its LR hits for the HR image)."""
        if resolution is None and cameras.resolution is None:
            resolution = self.resolution
        return self.renderer.render(representation, cameras, resolution, intersections=intersections)

    # ------------------------------------------------------------------ free-view cache
    @property
    def cache_extent(self) -> float:
        """Half-width (world units) of the square :meth:`textured_layers` grids: ``CACHE_MARGIN`` x fov / 100."""
        return self.CACHE_MARGIN * fov_extent(self.camera_prior.fov)

    @torch.no_grad()
    def textured_layers(self, representation: GramRepresentation, camera: Camera,
                        texture_resolution: int | None = None, chunk: int = 65536):
        """Bake one instance's radiance into maps on the orthographic grid (GRAM-HD's manifold gridding over
        [-cache_extent, cache_extent]², ``texture_resolution`` texels a side, default the generator's resolution):
        rgb and alpha of every manifold (alpha 0 where a level is not crossed) and the background plane's rgb,
        each seen from ``camera``'s centre. Returns :class:`zoo3d.freeview.TexturedLayers`."""
        from zoo3d.freeview.protocol import TexturedLayers

        rep = representation
        if rep.batch_size != 1:
            raise ValueError(f"textured_layers takes one instance, got {rep.batch_size}")
        R = int(texture_resolution or self.resolution[0])
        rc, e = self.config.render, self.cache_extent
        maps = int(rep.levels.numel()) + (rep.background_z is not None)
        check_texels("--texture-resolution", R, maps, self.BAKE_BYTES_PER_TEXEL)  # before the bake, not killed in it
        points, valid = grid_manifolds(rep, R, e, rc.near, rc.far, rc.num_samples, batch_size=1)
        N = points.shape[1]
        origin = camera.cam2world[:1, :3, 3].to(points)

        def bake(pts: Tensor, answer) -> list[Tensor]:
            outs = []
            for s in range(0, pts.shape[1], chunk):
                p = pts[:, s:s + chunk]
                r = answer(p, torch.nn.functional.normalize(p - origin[:, None], dim=-1))
                outs.append(torch.cat([r.rgb, r.alpha if r.alpha is not None else torch.ones_like(r.rgb[..., :1])], -1))
            return torch.cat(outs, 1)

        fg = bake(points.reshape(1, N * R * R, 3), rep.query)
        fg[..., 3] = fg[..., 3] * valid.reshape(1, -1).to(fg.dtype)
        maps = fg.reshape(1, N, R, R, 4).permute(0, 1, 4, 2, 3)
        bg_map = None
        if rep.background_z is not None:
            bg_pts = background_grid(R, rep.background_z, device=points.device, dtype=points.dtype).reshape(1, R * R, 3)
            bg_map = bake(bg_pts, rep.background_radiance)[..., :3].reshape(1, R, R, 3).permute(0, 3, 1, 2)
        textured = TexturedManifolds(rep, maps, bg_map, extent=e, background_z=rep.background_z)
        return TexturedLayers(textured, min(R, self.CACHE_MESH_RESOLUTION), rc.near, rc.far, rc.num_samples,
                              backdrop=(1.0, 1.0, 1.0) if rc.white_background else None)
