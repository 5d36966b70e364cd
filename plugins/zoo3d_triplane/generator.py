"""The EG3D-style tri-plane generator on zoo3d's shared VolumeRenderer.

z (B, z_dim) [+ conditioning camera c (B, 25)] -> mapping -> w -> StyleGAN2 backbone ->
(B, 3 * C, R, R) reshaped to 3 planes (XY, XZ, YZ) -> :class:`TriplaneScene`; rendering marches
rays through the scene with the VolumeRenderer at the neural rendering resolution (a C-channel
feature image), then a 2D super-resolution module makes the output image. Because of that 2D
step the output is not strictly 3D-consistent: ``RenderOutput.raw`` holds the neural render.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.core.generator import Generator, check_one_camera_each
from zoo3d.core.outputs import RenderOutput
from zoo3d.nn.mapping import MappingNetwork
from zoo3d.nn.modconv import StyleSynthesis
from zoo3d.nn.resize import resize
from zoo3d.render.volume import SampleDraws, VolumeRenderer

from zoo3d_triplane.config import CAMERA_DIM, UPSTREAM_BOX_WARP, TriplaneGeneratorConfig
from zoo3d_triplane.field import TriplaneDecoder, TriplaneScene
from zoo3d_triplane.superres import SuperResolution


class TriplaneGenerator(Generator):
    """EG3D's TriPlaneGenerator.

    Args:
        cfg: the generator config. camera_prior: where cameras are drawn from (and the frontal
            camera that conditions the mapping at inference when ``gen_pose_cond`` is on).

    ``neural_resolution`` may be changed between steps (EG3D's 64 -> 128 fade). Noise: random while
    training; in eval mode ``cfg.eval_noise`` ("none", so an instance is a deterministic function of z, or
    "const", the fixed noise buffers as EG3D's ``noise_mode='const'``). Truncation applies to every style,
    the super-resolution's included (EG3D's inference scripts truncate all 14 ws; the SR reads the last).
    """

    strictly_3d_consistent = False

    def __init__(self, cfg: TriplaneGeneratorConfig, camera_prior: CameraPrior | None = None):
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.z_dim
        self.resolution = (cfg.resolution, cfg.resolution)
        self.camera_prior = camera_prior or CameraPrior()
        # a buffer so checkpoints remember a fine-tuned (faded) neural rendering resolution
        self.register_buffer("_neural_resolution", torch.tensor(cfg.neural_resolution))
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, num_layers=cfg.mapping_layers, c_dim=CAMERA_DIM,
                                      w_avg_beta=0.998)  # StyleGAN2-ADA's (EG3D's) w_avg decay

        def width(res: int) -> int:
            return max(1, min(cfg.channel_base // res, cfg.channel_max))

        self.backbone = StyleSynthesis(cfg.w_dim, 3 * cfg.plane_channels, cfg.plane_resolution, width,
                                       clamp=cfg.backbone_conv_clamp)
        self.decoder = TriplaneDecoder(cfg.plane_channels, cfg.decoder_hidden, cfg.decoder_lr_mul)
        self.renderer = VolumeRenderer(num_samples=cfg.num_samples, num_importance=cfg.num_importance,
                                       near=cfg.near, far=cfg.far, stratified=True, density_activation="softplus",
                                       background=None, sampling=cfg.sampling)
        self.superresolution = SuperResolution(cfg.plane_channels, cfg.w_dim, cfg.sr_input_resolution,
                                               cfg.resolution, tuple(cfg.sr_channels), clamp=cfg.sr_conv_clamp)
        self.density_scale = UPSTREAM_BOX_WARP / cfg.box_warp if cfg.density_scale is None else cfg.density_scale

    @property
    def neural_resolution(self) -> int:
        """Side of the volume-rendered feature image (EG3D: 64, faded to 128 when fine-tuning)."""
        return int(self._neural_resolution)

    @neural_resolution.setter
    def neural_resolution(self, value: int) -> None:
        self._neural_resolution.fill_(int(value))

    # ------------------------------------------------------------------ latents -> scene
    def conditioning(self, n: int, c: Tensor | None = None) -> Tensor:
        """The mapping's camera input (n, 25): ``c`` scaled by ``c_scale``; the prior's frontal camera when
        None; zeros without generator pose conditioning (as upstream)."""
        device, dtype = self.device, self.mapping.layers[0].weight.dtype
        if not self.cfg.gen_pose_cond:
            return torch.zeros(n, CAMERA_DIM, device=device, dtype=dtype)
        if c is None:
            c = self.camera_prior.frontal(n, device=device, dtype=dtype).to_eg3d()
        return c.to(device=device, dtype=dtype) * self.cfg.c_scale

    def represent(self, z: Tensor, psi: float = 1.0, c: Tensor | None = None,
                  update_w_avg: bool = False) -> TriplaneScene:
        """z (B, z_dim) [, conditioning camera labels c (B, 25)] -> the tri-planes of B instances.

        ``update_w_avg``: move the tracked mean w (the truncation centre) towards these ws. The recipe asks for
        it only for the discriminator's fakes, once a step, as EG3D updates it in ``Dmain`` alone."""
        w = self.mapping(z, self.conditioning(z.shape[0], c), update_w_avg=update_w_avg)
        return self.represent_ws(self.mapping.truncate(w, psi))

    # ------------------------------------------------------------------ W / W+ (zoo3d.invert.SupportsLatentSpaces)
    @property
    def w_dim(self) -> int:
        return self.cfg.w_dim

    @property
    def num_ws(self) -> int:
        """The backbone's styles; the super-resolution module takes the last one, as EG3D's does."""
        return self.backbone.num_ws

    def mean_latent(self) -> Tensor:
        """(1, w_dim): the tracked mean w, the truncation centre (where EG3D's PTI starts its W search)."""
        return self.mapping.w_avg.reshape(1, -1)

    def map_latent(self, z: Tensor, psi: float = 1.0, c: Tensor | None = None) -> Tensor:
        """z (B, z_dim) [, conditioning camera labels c] -> W+ (B, num_ws, w_dim), truncated by ``psi``."""
        w = self.mapping.truncate(self.mapping(z, self.conditioning(z.shape[0], c), update_w_avg=False), psi)
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def represent_ws(self, ws: Tensor) -> TriplaneScene:
        """W (B, w_dim) or W+ (B, num_ws, w_dim) -> the tri-planes; the super-resolution styled by the last w."""
        planes = self.backbone(ws, noise_mode="random" if self.training else self.cfg.eval_noise)
        B, _, R, _ = planes.shape
        planes = planes.reshape(B, 3, self.cfg.plane_channels, R, R)
        sr_w = ws if ws.dim() == 2 else ws[:, -1]
        return TriplaneScene(planes=planes, decoder=self.decoder, box_warp=self.cfg.box_warp,
                             density_scale=self.density_scale, sr_w=sr_w, third_plane=self.cfg.third_plane)

    # ------------------------------------------------------------------ scene -> images
    def render(self, representation: TriplaneScene, cameras: Camera,
               resolution: tuple[int, int] | None = None, draws: SampleDraws | None = None) -> RenderOutput:
        """Neural render at ``neural_resolution`` then super-resolution to ``cfg.resolution``.

        rgb (B, 3, H, W) in about [-1, 1] (the SR output, linear); raw: the neural render with rgb =
        its first 3 feature channels and features (B, C, h, h) mapped to [-1, 1], depth and alpha.
        A ``resolution`` other than the native one resizes the SR output (antialiased bilinear).
        ``draws``: the ray-sampling random numbers to use (``sampling="eg3d"``; see VolumeRenderer.render).
        """
        nr = self.neural_resolution
        out = self.renderer.render(representation, cameras.to(self.device, self.dtype), (nr, nr), draws=draws)
        features = out.features
        if self.cfg.white_background:  # EG3D adds the white to every composited feature channel
            features = features + (1 - out.alpha)
        features = features * 2 - 1
        raw = RenderOutput(rgb=features[:, :3], depth=out.depth, alpha=out.alpha, features=features,
                           weights=out.weights, extras=out.extras)
        rgb = self.superresolution(features, representation.sr_w)
        if resolution is not None and tuple(resolution) != self.resolution:
            if resolution[0] != resolution[1]:
                raise ValueError(f"the tri-plane generator renders square images, got {tuple(resolution)}")
            rgb = resize(rgb, resolution[0])
        depth = resize(out.depth, rgb.shape[-1])
        alpha = resize(out.alpha, rgb.shape[-1])
        return RenderOutput(rgb=rgb, depth=depth, alpha=alpha, raw=raw)

    def forward(self, z: Tensor, cameras: Camera, psi: float = 1.0, resolution: tuple[int, int] | None = None,
                c: Tensor | None = None) -> RenderOutput:
        check_one_camera_each(z, cameras)
        return self.render(self.represent(z, psi, c), cameras, resolution)
