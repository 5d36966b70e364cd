"""GramHDGenerator: GRAM at low resolution, manifold gridding, super-resolution of every manifold's
radiance map, and HR rendering by sampling the HR maps at the ray-manifold intersections.

Because the super-resolution happens on the manifolds' textures (a 3D representation), the HR image
of every camera is a view of the same textured surfaces: strictly 3D-consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator, check_one_camera_each
from zoo3d.core.outputs import RenderOutput
from zoo3d.render.gridding import background_grid, fov_extent, grid_manifolds
from zoo3d.render.manifold import ManifoldRenderer, resolve_resolution
from zoo3d.render.texture import TexturedManifolds

from zoo3d_gram import GramGenerator, GramRepresentation
from zoo3d_gram_hd.config import GeneratorConfig
from zoo3d_gram_hd.superres import RRDBNet, StyleRRDBNet

__all__ = ["GramHDGenerator", "GramHDOutput", "GramHDRepresentation", "ManifoldTextures"]

_STYLE_AVERAGE_SEED = 0x4844


@dataclass
class GramHDRepresentation:
    """The scene of B instances: the LR GRAM representation (geometry + radiance MLP) and the latents
    that drive the super-resolution net. Textures depend on the camera (view-dependent colour), so they
    are made at render time (:meth:`GramHDGenerator.textures`)."""

    lowres: GramRepresentation
    z: Tensor
    psi: float = 1.0

    @property
    def batch_size(self) -> int:
        return self.z.shape[0]

    @property
    def levels(self) -> Tensor:
        return self.lowres.levels

    @property
    def bounds(self) -> float:
        return self.lowres.bounds

    def mesh_field(self, points: Tensor) -> tuple[Tensor, float]:
        """The LR GRAM's meshing field: super-resolution changes textures, never the geometry."""
        return self.lowres.mesh_field(points)

    def query(self, points: Tensor, dirs: Tensor):
        """The LR radiance at any point (mesh vertex colours; the HR textures exist only on the manifolds)."""
        return self.lowres.query(points, dirs)


@dataclass
class ManifoldTextures:
    """LR and HR radiance maps of the N foreground manifolds and the background plane.

    lr_maps (B, N, 4 + F, h, w): rgb in [0, 1], alpha, F features (the SR net's input);
    hr_maps (B, N, 4, H, W): rgb (linear, unclamped), alpha in [0, 1];
    lr_background (B, 3, h, w), hr_background (B, 3, H, W): background rgb.
    """

    lr_maps: Tensor
    lr_background: Tensor
    hr_maps: Tensor
    hr_background: Tensor

    def rgba(self, hr: bool) -> Tensor:
        """(B, N + 1, 4, R, R): foreground rgba then the background's rgb with alpha 0 (loss (12)'s layout)."""
        maps, bg = (self.hr_maps, self.hr_background) if hr else (self.lr_maps[:, :, :4], self.lr_background)
        bg = torch.cat([bg, torch.zeros_like(bg[:, :1])], dim=1).unsqueeze(1)
        return torch.cat([maps, bg], dim=1)


@dataclass
class GramHDOutput(RenderOutput):
    """An HR render (``rgb`` the HR image, ``raw`` the LR GRAM render) with the :class:`ManifoldTextures` its
    HR maps were sampled from (loss (12) compares them with the LR maps)."""

    textures: ManifoldTextures | None = None


class GramHDGenerator(Generator):
    """GRAM-HD (Xiang et al., ICCV 2023).

    ``lowres`` is a :class:`GramGenerator` with feature heads (the stage-1 model). With the buffer
    ``super_resolve`` False (before stage 2 begins) render() is GRAM's LR render, so training samples of
    stage 1 show GRAM; once stage 2 begins it is True and render() gives the HR image:

    render(rep, cameras, resolution=None, lowres_image=True) -> :class:`GramHDOutput` with rgb (B, 3, H, W) in
    [-1, 1] the HR image (H = W = ``config.resolution`` unless given), depth/alpha/weights/points from the HR render
    (its intersections are the LR ones upsampled), ``raw`` = the LR GRAM render (B, 3, h, w), None with
    ``lowres_image=False``, and ``textures`` = the :class:`ManifoldTextures`.
    """

    strictly_3d_consistent = True

    def __init__(self, config: GeneratorConfig | None = None, camera_prior: CameraPrior | None = None):
        super().__init__()
        cfg = config or GeneratorConfig()
        self.config = cfg
        self.camera_prior = camera_prior or CameraPrior()
        self.lowres = GramGenerator(cfg.lowres, self.camera_prior)
        lr = cfg.lowres
        fg, bg = cfg.foreground_sr, cfg.background_sr
        self.foreground_sr = StyleRRDBNet(in_ch=4 + lr.radiance.feature_dim, out_ch=4, nf=fg.nf, nb=fg.nb, gc=fg.gc,
                                          scale=cfg.scale, z_dim=lr.radiance.z_dim, up_channels=fg.up_channels,
                                          style_hidden=fg.style_hidden, last_kernel=fg.last_kernel,
                                          residual=bool(fg.residual), kernels=fg.kernels)
        self.background_sr = RRDBNet(3, 3, nf=bg.nf, nb=bg.nb, gc=bg.gc, scale=cfg.scale, up_channels=bg.up_channels)
        rc = lr.render
        self.renderer = ManifoldRenderer(rc.num_samples, rc.near, rc.far, rc.chunk, align_corners=rc.align_corners,
                                         upsample_align_corners=rc.align_corners,
                                         white_background=rc.white_background,
                                         upsample_background=cfg.upsample_background_hits)
        self.register_buffer("super_resolve", torch.tensor(False))
        self.z_dim = lr.radiance.z_dim
        self.hr_resolution = (cfg.resolution, cfg.resolution)
        self.lr_resolution = (lr.resolution, lr.resolution)
        self.extent = fov_extent(self.camera_prior.fov) if cfg.extent is None else cfg.extent
        self._style_average_key: tuple | None = None

    @property
    def resolution(self) -> tuple[int, int]:
        """The size render() draws when not told: the LR GRAM's before stage 2 begins, the HR image's after."""
        return self.hr_resolution if bool(self.super_resolve) else self.lr_resolution

    # ------------------------------------------------------------------ latents
    def represent(self, z: Tensor, psi: float = 1.0) -> GramHDRepresentation:
        return GramHDRepresentation(self.lowres.represent(z, psi), z, psi)

    def _ensure_style_average(self) -> None:
        """The SR net's own mean style for truncation, recomputed whenever its mapping weights change."""
        key = tuple((p.data_ptr(), p._version, p.device) for p in self.foreground_sr.mapping.parameters())
        if key != self._style_average_key:
            rng = torch.Generator().manual_seed(_STYLE_AVERAGE_SEED)
            self.foreground_sr.compute_style_average(self.config.lowres.radiance.truncation_samples, generator=rng)
            self._style_average_key = key

    # ------------------------------------------------------------------ gridding + SR
    def lowres_textures(self, rep: GramHDRepresentation, cameras: Camera) -> tuple[Tensor, Tensor]:
        """Manifold gridding at the LR side h: maps (B, N, 4 + F, h, h) and background rgb (B, 3, h, h).

        Geometry is shared by all instances, so it is gridded once (batch 1) without grad (frozen in
        stage 2). Texels are coloured by the radiance MLP + feature heads seen from the camera centre
        (or along -z when ``view_dependent_textures`` is off); alpha is zero where a level is not crossed.
        """
        return self.gridded_textures(rep, cameras, self.lr_resolution[0])

    def gridded_textures(self, rep: GramHDRepresentation, cameras: Camera, side: int,
                         features: bool = True) -> tuple[Tensor, Tensor]:
        """:meth:`lowres_textures` at any side: maps (B, N, 4 + F, side, side) (4 channels without
        ``features``) and background rgb (B, 3, side, side)."""
        lr = rep.lowres
        B, h = rep.batch_size, side
        rc = self.config.lowres.render
        with torch.no_grad():
            points, valid = grid_manifolds(lr, h, self.extent, rc.near, rc.far, rc.num_samples, batch_size=1)
        N = points.shape[1]
        pts = points.reshape(1, N * h * h, 3).expand(B, -1, -1)
        bg_pts = background_grid(h, lr.background_z, device=pts.device, dtype=pts.dtype).reshape(1, h * h, 3)
        bg_pts = bg_pts.expand(B, -1, -1)
        fg_dirs, bg_dirs = self._view_dirs(pts, cameras), self._view_dirs(bg_pts, cameras)
        fg = lr.query(pts, fg_dirs)
        alpha = fg.alpha * valid.reshape(1, N * h * h, 1).to(fg.alpha.dtype)
        texels = torch.cat([fg.rgb, alpha, fg.features] if features else [fg.rgb, alpha], dim=-1)
        maps = texels.reshape(B, N, h, h, -1).permute(0, 1, 4, 2, 3)
        bg = lr.query(bg_pts, bg_dirs).rgb.reshape(B, h, h, 3).permute(0, 3, 1, 2)
        return maps, bg

    def _view_dirs(self, points: Tensor, cameras: Camera) -> Tensor:
        """Unit directions (B, P, 3) from each instance's camera centre to the points (B, P, 3)."""
        if not self.config.view_dependent_textures:
            d = torch.zeros_like(points)
            d[..., 2] = -1.0
            return d
        origins = cameras.cam2world[:, :3, 3].to(points).unsqueeze(1)
        return F.normalize(points - origins, dim=-1)

    def textures(self, rep: GramHDRepresentation, cameras: Camera) -> ManifoldTextures:
        """LR maps by gridding, then HR maps: the style RRDB net on each manifold (weights shared across
        manifolds, styles from z) and the background RRDB net on the background rgb; with ``residual:
        field`` both add their detail to the field gridded at the HR side instead of the LR maps up-sampled."""
        maps, bg = self.lowres_textures(rep, cameras)
        B, N, C, h, w = maps.shape
        if rep.psi != 1.0:
            self._ensure_style_average()
        fg_base = bg_base = None
        if self.config.foreground_sr.residual == "field":
            with torch.no_grad():  # a fixed estimate: the stage-1 field is frozen while the SR nets train
                fg_base, bg_base = self.gridded_textures(rep, cameras, self.hr_resolution[0], features=False)
            fg_base = fg_base.reshape(B * N, 4, *fg_base.shape[-2:])
        hr = self.foreground_sr(maps.reshape(B * N, C, h, w), rep.z, rep.psi, base=fg_base)
        hr = hr.reshape(B, N, hr.shape[1], hr.shape[2], hr.shape[3])
        return ManifoldTextures(lr_maps=maps, lr_background=bg, hr_maps=hr,
                                hr_background=self.background_sr(bg, base=bg_base))

    def hr_representation(self, rep: GramHDRepresentation, textures: ManifoldTextures) -> TexturedManifolds:
        """The HR scene: the LR geometry with the HR maps (a ManifoldRepresentation in texture mode)."""
        return TexturedManifolds(rep.lowres, textures.hr_maps, textures.hr_background, extent=self.extent,
                                 background_z=rep.lowres.background_z,
                                 align_corners=self.config.texture_align_corners,
                                 filter=self.config.texture_filter)

    # ------------------------------------------------------------------ rendering
    def forward(self, z: Tensor, cameras: Camera, psi: float = 1.0, resolution: tuple[int, int] | None = None,
                lowres_image: bool = True) -> RenderOutput:
        """:meth:`Generator.forward`, with :meth:`render`'s ``lowres_image``."""
        check_one_camera_each(z, cameras)
        return self.render(self.represent(z, psi), cameras, resolution, lowres_image=lowres_image)

    def render(self, representation: GramHDRepresentation, cameras: Camera,
               resolution: tuple[int, int] | int | None = None, lowres_image: bool = True) -> RenderOutput:
        """``lowres_image=False`` leaves the LR image out of an HR render (``raw`` None): a caller that reads only
        the HR image (the discriminator's fakes) spares its shading; the HR image is the same either way."""
        rep = representation
        if not bool(self.super_resolve):
            return self.lowres.render(rep.lowres, cameras, resolution)  # GRAM's: the cameras' size, else the LR one
        if resolution is None and cameras.resolution is None:
            resolution = self.hr_resolution
        H, W = resolve_resolution(resolution, cameras)
        cameras = cameras.to(device=rep.z.device)
        with torch.no_grad():  # the LR rays are intersected once: for the LR image and, upsampled, for the HR one
            hits = self.renderer.intersect(rep.lowres, cameras, self.lr_resolution)
            low = (self.lowres.render(rep.lowres, cameras, self.lr_resolution, intersections=hits) if lowres_image
                   else None)
        textures = self.textures(rep, cameras)
        out = self.renderer.render(self.hr_representation(rep, textures), cameras, (H, W),
                                   intersection_resolution=self.lr_resolution, intersections=hits)
        return GramHDOutput(**{**vars(out), "raw": low}, textures=textures)

    # ------------------------------------------------------------------ free-view cache
    @torch.no_grad()
    def textured_layers(self, representation: GramHDRepresentation, camera: Camera,
                        texture_resolution: int | None = None):
        """The free-view cache's input (:class:`zoo3d.freeview.SupportsManifoldCache`): the HR maps made for
        ``camera`` on the LR geometry, meshed on the LR grid the super-resolution starts from (the paper's
        cached textured meshes). Before stage 2 (``super_resolve`` off) it is the LR GRAM's bake.
        ``texture_resolution`` applies to that GRAM bake only."""
        from zoo3d.freeview.protocol import TexturedLayers

        rep = representation
        if not bool(self.super_resolve):
            return self.lowres.textured_layers(rep.lowres, camera, texture_resolution or self.lr_resolution[0])
        textures = self.textures(rep, camera.to(device=rep.z.device))
        rc = self.config.lowres.render
        return TexturedLayers(self.hr_representation(rep, textures), self.lr_resolution[0], rc.near, rc.far,
                              rc.num_samples, backdrop=(1.0, 1.0, 1.0) if rc.white_background else None)
