"""Efficient GRAM (GRAMInverter §3.1): GRAM's manifolds with radiance from a StyleGAN2 CNN on W+.

GRAM evaluates a FiLM-SIREN MLP at every ray-manifold intersection; Efficient GRAM instead generates,
once per instance, feature maps laid on the gridded manifolds (orthographic along -Z over
[-extent, extent]², GRAM-HD's gridding) by a StyleGAN2 synthesis network, decodes them per texel to
radiance maps (rgb, alpha) with a small MLP, and renders them through the shared ManifoldRenderer in
texture mode. Geometry is GRAM's: the shared scalar field (geometric init) with 23 levels and the
background plane z = -0.12.

Choices the paper leaves open (documented): one synthesis network outputs all manifolds' features as
channel groups of one map (one group per level; or ``depth_slices`` slices of a feature volume, or with
``feature_planes`` EG3D's three axis-aligned planes, either read at each texel's 3D point, so that features
vary with position in space as GRAM's radiance does); no noise
inputs (W+ determines the scene, which inversion needs); the radiance is view-independent (the CNN sees
no view direction); alpha = sigmoid of the decoder's 4th output, zeroed at texels whose level the
gridding ray does not cross; texel centres are corner-aligned (as gridding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator
from zoo3d.core.outputs import RenderOutput
from zoo3d.nn.mapping import MappingNetwork
from zoo3d.nn.modconv import StyleSynthesis
from zoo3d.nn.triplane import aggregate, sample_planes
from zoo3d.render.gridding import fov_extent, grid_manifolds
from zoo3d.render.manifold import ManifoldRenderer
from zoo3d.render.texture import TexturedManifolds

from zoo3d_gram import ManifoldPredictor, widened_sigmoid
from zoo3d_gram_inverter.config import EfficientGramConfig

__all__ = ["EfficientGramGenerator", "FeatureManifolds", "ManifoldGeometry", "RadianceDecoder"]

_MEAN_W_SEED = 0x4547


@dataclass
class FeatureManifolds:
    """Feature maps of B instances on the N gridded manifolds and the background plane.

    foreground (B, N, C, R, R); background (B, C, R, R). Adding two (coarse + detail) is how
    GRAMInverter combines its branches; the generator decodes them to radiance at render time.
    """

    foreground: Tensor
    background: Tensor

    @property
    def batch_size(self) -> int:
        return self.foreground.shape[0]

    def __add__(self, other: "FeatureManifolds | None") -> "FeatureManifolds":
        if other is None:
            return self
        return FeatureManifolds(self.foreground + other.foreground, self.background + other.background)

    def detach(self) -> "FeatureManifolds":
        return FeatureManifolds(self.foreground.detach(), self.background.detach())


class ManifoldGeometry:
    """The shared scalar field and its levels as a (geometry-only) ManifoldRepresentation for gridding."""

    def __init__(self, predictor: ManifoldPredictor, levels: Tensor, batch_size: int = 1):
        self.predictor, self.levels, self.batch_size = predictor, levels, batch_size

    def scalar(self, x: Tensor) -> Tensor:
        return self.predictor(x)


class RadianceDecoder(nn.Module):
    """Per-texel MLP (1x1 convs): features (M, C, H, W) -> rgb in [0, 1] (M, 3, H, W) and alpha (M, 1, H, W).

    Initialised to carry the features' spread through to the logits (He init for the hidden layers,
    1/sqrt(fan_in) for the last, zero biases, as EG3D's decoder starts): with PyTorch's default init the
    logits' spread shrinks ~10x over three layers, the untrained generator draws one flat grey and its
    first gradients are ~15x smaller than GRAM's (docs/training.md).
    """

    def __init__(self, feature_dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(feature_dim, hidden, 1), nn.LeakyReLU(0.2), nn.Conv2d(hidden, hidden, 1),
                                 nn.LeakyReLU(0.2), nn.Conv2d(hidden, 4, 1))
        convs = [m for m in self.net if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
        nn.init.normal_(convs[-1].weight, std=convs[-1].in_channels ** -0.5)
        for conv in convs:
            nn.init.zeros_(conv.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(features)
        return widened_sigmoid(out[:, :3]), torch.sigmoid(out[:, 3:])


class EfficientGramGenerator(Generator):
    """z -> W+ -> feature manifolds -> radiance maps -> image (ManifoldRenderer, texture mode).

    Implements :class:`zoo3d.invert.SupportsLatentSpaces` (``map_latent``, ``mean_latent``,
    ``represent_ws``), so the optimisation inverter can search W and W+.

    represent(z (B, z_dim), psi) -> FeatureManifolds; represent_ws(ws (B, num_ws, w_dim)) -> FeatureManifolds;
    render(features, cameras, resolution, normals=False, intersections=None) -> RenderOutput (rgb in [-1, 1], depth =
    distance along the ray, normals from grad s when asked); intersect(cameras, resolution) -> the hits render
    can take, shared by every representation (the geometry is the same for all).
    """

    def __init__(self, config: EfficientGramConfig | None = None, camera_prior: CameraPrior | None = None):
        super().__init__()
        cfg = config or EfficientGramConfig()
        m, rc = cfg.manifold, cfg.render
        self.config = cfg
        self.camera_prior = camera_prior or CameraPrior()
        self.manifold = ManifoldPredictor(m.hidden, m.layers, m.box_size, m.center, m.init_scale, m.init_radius)
        self.register_buffer("levels", torch.linspace(m.level_start, m.level_end, m.num_levels))
        if m.background_z is None:
            raise ValueError("Efficient GRAM needs the background plane (manifold.background_z)")
        self.background_z = m.background_z
        self.num_manifolds, self.feature_dim = m.num_levels, cfg.feature_dim
        R = cfg.texture_resolution
        self.depth_slices, self.feature_planes = cfg.depth_slices, cfg.feature_planes
        groups = 3 if cfg.feature_planes else cfg.depth_slices or m.num_levels
        self.background_from_volume = cfg.background_from_volume
        groups += 0 if cfg.background_from_volume else 1  # the background plane's own group
        self.synthesis = StyleSynthesis(cfg.w_dim, groups * cfg.feature_dim, R,
                                        channels=lambda r: min(cfg.channel_base // r, cfg.channel_max), noise=False)
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, w_avg_beta=None)
        self.decoder = RadianceDecoder(cfg.feature_dim, cfg.decoder_hidden)
        self.renderer = ManifoldRenderer(rc.num_samples, rc.near, rc.far, rc.chunk)
        self.normal_renderer = ManifoldRenderer(rc.num_samples, rc.near, rc.far, rc.chunk, compute_normals=True)
        self.z_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.w_dim, self.synthesis.num_ws
        self.resolution = (cfg.resolution, cfg.resolution)
        self.extent = fov_extent(self.camera_prior.fov) if cfg.extent is None else cfg.extent
        self.texture_resolution, self.texture_filter = R, cfg.texture_filter
        self._mean_cache: tuple[tuple, Tensor] | None = None
        self._grid_cache: dict[int, tuple[tuple, tuple[Tensor, Tensor]]] = {}
        self._slice_cache: tuple[Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ latent spaces
    def mean_latent(self) -> Tensor:
        """(1, w_dim): the mean w over ``truncation_samples`` fixed latents (recomputed when the mapping changes)."""
        params = tuple(self.mapping.parameters())
        key = tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params)
        if self._mean_cache is None or self._mean_cache[0] != key:
            rng = torch.Generator().manual_seed(_MEAN_W_SEED)
            z = torch.randn(self.config.truncation_samples, self.z_dim, generator=rng,
                            dtype=torch.float32).to(params[0])
            with torch.no_grad():
                mean = self.mapping(z, update_w_avg=False).mean(0, keepdim=True)
            self._mean_cache = (key, mean)
        return self._mean_cache[1]

    def map_latent(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """z (B, z_dim) -> W+ (B, num_ws, w_dim), truncated towards the mean w when psi < 1."""
        w = self.mapping(z, update_w_avg=False)
        if psi != 1.0:
            w = torch.lerp(self.mean_latent().to(w), w, psi)
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def represent(self, z: Tensor, psi: float = 1.0) -> FeatureManifolds:
        return self.represent_ws(self.map_latent(z, psi))

    def represent_ws(self, ws: Tensor) -> FeatureManifolds:
        """W+ (B, num_ws, w_dim) (or W (B, w_dim)) -> the feature manifolds."""
        maps = self.synthesis(ws, noise_mode="none")
        B, R = maps.shape[0], maps.shape[-1]
        maps = maps.reshape(B, -1, self.feature_dim, R, R)
        if self.background_from_volume:
            foreground = maps
            background = torch.einsum("k,bkchw->bchw", self.depth_weights(maps.new_tensor([self.background_z]))[0],
                                      maps)
        else:
            foreground, background = maps[:, :-1], maps[:, -1]
        if self.depth_slices is not None:
            foreground = torch.einsum("nkhw,bkchw->bnchw", self.slice_weights(R).to(maps), foreground)
        elif self.feature_planes:
            foreground = self.plane_features(foreground)
        return FeatureManifolds(foreground, background)

    def plane_features(self, planes: Tensor) -> Tensor:
        """Tri-plane planes (B, 3, C, R, R) -> the features of every level's texels (B, N, C, R, R), the mean of
        the three planes at the texels' gridded 3D points.

        The planes span the gridded cube ([-extent, extent]³: the texture square, and depth from 1 - far to
        1 - near) with their texel centres on the gridding's corner-aligned texel centres, so the XY plane
        holds exactly the features of the texels beneath each of its texels."""
        B, _, C, R, _ = planes.shape
        points, _ = self.gridded(R)  # (1, N, R, R, 3)
        N = points.shape[1]
        box = 2 * self.extent * R / (R - 1)  # grid_sample(align_corners=False) centres on linspace(-e, e, R)
        features = aggregate(sample_planes(planes, points.reshape(1, -1, 3).expand(B, -1, -1).to(planes), box))
        return features.to(planes.dtype).reshape(B, N, R, R, C).permute(0, 1, 4, 2, 3)

    def slice_weights(self, resolution: int) -> Tensor:
        """(N, K, R, R): how much of each depth slice the texels of each level take, linear in the z of their
        gridded points between the two nearest of the K slices spaced over z in [1 - far, 1 - near]."""
        points, _ = self.gridded(resolution)
        if self._slice_cache is not None and self._slice_cache[0] is points:
            return self._slice_cache[1]
        weights = self.depth_weights(points[0, ..., 2]).permute(0, 3, 1, 2)
        self._slice_cache = (points, weights)
        return weights

    def depth_weights(self, z: Tensor) -> Tensor:
        """(..., K): how much of each of the K depth slices (spaced over z in [1 - far, 1 - near]) a point at
        depth ``z`` (...) takes, linear between the two nearest; outside the range, the nearest slice."""
        rc, K = self.config.render, self.depth_slices
        lo, hi = 1.0 - rc.far, 1.0 - rc.near
        position = ((z - lo) / (hi - lo)).clamp(0, 1) * (K - 1)
        slices = torch.arange(K, device=position.device, dtype=position.dtype)
        return (1 - (position.unsqueeze(-1) - slices).abs()).clamp(min=0)

    # ------------------------------------------------------------------ geometry
    def geometry(self, batch_size: int = 1) -> ManifoldGeometry:
        return ManifoldGeometry(self.manifold, self.levels, batch_size)

    def gridded(self, resolution: int) -> tuple[Tensor, Tensor]:
        """The manifolds gridded at ``resolution``²: points (1, N, R, R, 3) and valid (1, N, R, R) (no grad:
        only their (x, y) and validity are used, and (x, y) are the fixed texel centres).

        Cached per resolution until the manifold predictor's weights change (they are frozen once the
        inversion stages start, so inversion and turntables grid once)."""
        key = (resolution, self.levels.device,
               tuple((p.data_ptr(), p._version) for p in self.manifold.parameters()))
        hit = self._grid_cache.get(resolution)
        if hit is not None and hit[0] == key:
            return hit[1]
        rc = self.config.render
        with torch.no_grad():
            grid = grid_manifolds(self.geometry(1), resolution, self.extent, rc.near, rc.far, rc.num_samples,
                                  batch_size=1)
        self._grid_cache[resolution] = (key, grid)
        return grid

    # ------------------------------------------------------------------ radiance + rendering
    def radiance_maps(self, features: FeatureManifolds) -> tuple[Tensor, Tensor]:
        """Decode features: foreground rgba maps (B, N, 4, R, R) (alpha 0 where the level is not crossed) and
        background rgb (B, 3, R, R)."""
        fg = features.foreground
        B, N, C, R, _ = fg.shape
        rgb, alpha = self.decoder(fg.reshape(B * N, C, R, R))
        _, valid = self.gridded(R)
        alpha = alpha.reshape(B, N, 1, R, R) * valid.to(alpha.dtype).unsqueeze(2)
        maps = torch.cat([rgb.reshape(B, N, 3, R, R), alpha], dim=2)
        bg_rgb, _ = self.decoder(features.background)
        return maps, bg_rgb

    def textured(self, features: FeatureManifolds) -> TexturedManifolds:
        maps, bg = self.radiance_maps(features)
        return TexturedManifolds(self.manifold, maps, bg, levels=self.levels, extent=self.extent,
                                 background_z=self.background_z, filter=self.texture_filter)

    def intersect(self, cameras: Camera, resolution: tuple[int, int] | int | None = None) -> tuple[Tensor, Tensor]:
        """The hits of these cameras' rays at ``resolution`` on the shared manifolds
        (:meth:`ManifoldRenderer.intersect`): they depend on the cameras and the scalar field only, so every
        representation rendered from these cameras can take them (:meth:`render`'s ``intersections``)."""
        if resolution is None and cameras.resolution is None:
            resolution = self.resolution
        cameras = cameras.to(device=self.levels.device)
        return self.renderer.intersect(self.geometry(len(cameras)), cameras, resolution)

    def render(self, representation: FeatureManifolds, cameras: Camera,
               resolution: tuple[int, int] | int | None = None, normals: bool = False,
               intersections: tuple[Tensor, Tensor] | None = None) -> RenderOutput:
        """``intersections``: :meth:`intersect`'s hits of these cameras at ``resolution``, to render from instead of
        intersecting again (GRAMInverter's detail stage renders the coarse and the detailed scene from one)."""
        if resolution is None and cameras.resolution is None:
            resolution = self.resolution
        cameras = cameras.to(device=self.levels.device)
        renderer = self.normal_renderer if normals else self.renderer
        return renderer.render(self.textured(representation), cameras, resolution, intersections=intersections)

    # ------------------------------------------------------------------ free-view cache
    @torch.no_grad()
    def textured_layers(self, representation: FeatureManifolds, camera: Camera,
                        texture_resolution: int | None = None):
        """The free-view cache's input (:class:`zoo3d.freeview.SupportsManifoldCache`): the decoded radiance maps
        (view-independent, so ``camera`` is not used), meshed on the texture grid."""
        from zoo3d.freeview.protocol import TexturedLayers

        rc = self.config.render
        return TexturedLayers(self.textured(representation), self.texture_resolution, rc.near, rc.far,
                              rc.num_samples)
