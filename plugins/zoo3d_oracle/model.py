"""The oracle generators: latent -> procedural head -> sphere-traced render with exact depth.

The same family as ``synthetic:heads`` (:mod:`zoo3d.data.head_model`): a latent fixes a head,
and the head is rendered at any camera, so every view of one latent is exactly consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.config import Config, RunConfig
from zoo3d.core import Generator, ModelPlugin, Radiance, RenderOutput
from zoo3d.data.augment import stable_hash
from zoo3d.data.head_model import HEAD_BOUNDS, HEAD_LATENT_DIM, HeadParams, head_radiance, head_sdf, params_from_latent
from zoo3d.data.synthetic import render_heads


class GeneratorConfig(Config):
    """The oracle's render resolution; ``downscale``, ``warp``, ``noise`` and ``low_noise`` only affect
    ``oracle_inconsistent``, and each is relative to the image, so the pair means the same at every resolution:
    ``warp`` is the warp's largest displacement as a fraction of the image side (1.5 pixels of a 64-pixel image)."""

    resolution: int = Field(64, ge=8, le=4096)
    downscale: int = Field(4, ge=1)
    warp: float = Field(1.5 / 64, ge=0)
    noise: float = Field(0.03, ge=0)
    low_noise: float = Field(0.1, ge=0)


class OracleConfig(RunConfig):
    """The oracles' config: the ``generator`` section and no ``stages`` (nothing trains)."""

    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)

    @model_validator(mode="after")
    def _nothing_trains(self):
        if self.stages:
            raise ValueError(f"stages: the oracle trains nothing, so it has no stages (got "
                             f"{[s.name for s in self.stages]})")
        return self

    @classmethod
    def upgrade_stored(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A config stored when the ``generator`` section was called ``oracle``, or when the warp was given in
        pixels (``warp_px``, at whatever resolution was rendered: the same displacement at ``resolution``)."""
        if "oracle" in data and "generator" not in data:
            data = {("generator" if k == "oracle" else k): v for k, v in data.items()}
        generator = data.get("generator")
        if isinstance(generator, dict) and "warp_px" in generator and "warp" not in generator:
            generator = dict(generator)
            generator["warp"] = float(generator.pop("warp_px")) / int(generator.get("resolution", 64))
            data = {**data, "generator": generator}
        return super().upgrade_stored(data)


@dataclass
class OracleHeads:
    """The oracle's representation: B procedural heads (an SDF field, see FieldRepresentation).

    ``query(points (B, P, 3), dirs)`` -> Radiance with the baked rgb (B, P, 3) in [0, 1] (the
    albedo-times-light of the nearest surface, meaningful on and near it) and ``sigma`` = the
    signed distance (B, P, 1) in world units.
    """

    params: HeadParams
    kind: Literal["sdf"] = "sdf"
    bounds: float = max(max(abs(v) for v in HEAD_BOUNDS[0]), max(abs(v) for v in HEAD_BOUNDS[1]))

    def sdf(self, points: Tensor) -> Tensor:
        return head_sdf(self.params, points)

    def query(self, points: Tensor, dirs: Tensor | None = None) -> Radiance:
        b, p, _ = points.shape
        with torch.enable_grad():
            x = points.detach().requires_grad_(True)
            d = head_sdf(self.params, x)
            (grad,) = torch.autograd.grad(d.sum(), x)
        normals = F.normalize(grad, dim=-1).reshape(-1, 3)
        bidx = torch.arange(b, device=points.device).repeat_interleave(p)
        rgb = head_radiance(self.params, bidx, points.reshape(-1, 3).detach(), normals).reshape(b, p, 3)
        return Radiance(rgb=rgb, sigma=d.detach()[..., None])


class OracleGenerator(Generator):
    """z (B, HEAD_LATENT_DIM) -> heads; ``psi`` < 1 pulls the latent (hence every parameter) to the mean head."""

    z_dim = HEAD_LATENT_DIM
    strictly_3d_consistent = True

    def __init__(self, config: OracleConfig | None = None):
        super().__init__()
        config = config or OracleConfig()
        self.config = config
        self.resolution = (config.generator.resolution, config.generator.resolution)
        self.camera_prior = config.camera
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries device and dtype

    def represent(self, z: Tensor, psi: float = 1.0) -> OracleHeads:
        return OracleHeads(params_from_latent(z[:, :HEAD_LATENT_DIM] * psi))

    def _size(self, resolution) -> tuple[int, int]:
        resolution = resolution or self.resolution
        return (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)

    def render(self, representation: OracleHeads, cameras: Camera, resolution=None) -> RenderOutput:
        cameras = cameras.to(device=self.device, dtype=self.dtype)  # as every generator: its own dtype and device
        out = render_heads(representation.params, cameras, self._size(resolution))
        # depth ends on the background plane where the head is missed; the head's own is zero off it
        return RenderOutput(rgb=out["rgb"], depth=out["depth"], alpha=out["mask"],
                            extras={"foreground_depth": out["depth"] * out["mask"]})


class InconsistentOracleGenerator(OracleGenerator):
    """The oracle rendered at ``1/downscale`` resolution and upsampled by a view-dependent 2D operation.

    Noise seeded by the camera is added to the low-resolution render (std ``low_noise``: after
    upsampling it is a soft, view-dependent mottling, like the colour flicker of a 2D upsampler);
    upsampling is bilinear, then a smooth warp whose displacement field (up to ``warp`` of the image
    side) has a phase set by the camera's yaw and pitch, then fine Gaussian noise
    (std ``noise``) seeded by the camera. Each image alone looks plausible, but the views of one
    head no longer agree with a single 3D scene. (Without the low-resolution noise, a short NeuS
    fit rewards the blur of the upsampled render about as much as it punishes the warp.)
    """

    strictly_3d_consistent = False

    def render(self, representation: OracleHeads, cameras: Camera, resolution=None) -> RenderOutput:
        h, w = self._size(resolution)
        cameras = cameras.to(device=self.device, dtype=self.dtype)
        k = self.config.generator.downscale
        low = render_heads(representation.params, cameras, (max(8, h // k), max(8, w // k)))
        lh, lw = low["rgb"].shape[-2:]
        low_rgb = low["rgb"] + self.config.generator.low_noise * self._view_noise(cameras, lh, lw)
        # the depth of the head alone (zero off it), resampled with the mask: over the mask, the edge's own depth
        stack = torch.cat([low_rgb, low["depth"], low["mask"], low["depth"] * low["mask"]], dim=1)
        up = F.interpolate(stack, size=(h, w), mode="bilinear", align_corners=False)
        up = F.grid_sample(up, self._warp_grid(cameras, h, w), mode="bilinear", padding_mode="border",
                           align_corners=False)
        rgb = up[:, :3] + self.config.generator.noise * self._view_noise(cameras, h, w)
        raw = RenderOutput(rgb=low["rgb"], depth=low["depth"], alpha=low["mask"])
        return RenderOutput(rgb=rgb.clamp(-1, 1), depth=up[:, 3:4], alpha=up[:, 4:5], raw=raw,
                            extras={"foreground_depth": up[:, 5:6]})

    def _warp_grid(self, cameras: Camera, h: int, w: int) -> Tensor:
        """Sampling grid (B, H, W, 2) in [-1, 1]: identity plus a displacement whose phase follows the view."""
        angles = cameras.to_angles()
        phase = (9.0 * angles["yaw"] + 7.0 * angles["pitch"])[:, None, None]
        ys = torch.linspace(-1, 1, h, device=cameras.device, dtype=cameras.dtype)
        xs = torch.linspace(-1, 1, w, device=cameras.device, dtype=cameras.dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        amp_x = amp_y = 2.0 * self.config.generator.warp  # grid units span 2 per image side
        dx = amp_x * torch.sin(2 * math.pi * 1.5 * gy + phase)
        dy = amp_y * torch.sin(2 * math.pi * 1.5 * gx - phase)
        return torch.stack([gx + dx, gy + dy], dim=-1)

    def _view_noise(self, cameras: Camera, h: int, w: int) -> Tensor:
        """(B, 3, H, W) standard normal noise, the same for the same camera and independent across views."""
        vecs = cameras.to_eg3d().detach().cpu().double()
        out = []
        for v in vecs:
            key = stable_hash(*[int(round(float(x) * 1e6)) for x in v[:16]])
            g = torch.Generator().manual_seed(key)
            out.append(torch.randn(3, h, w, generator=g))
        return torch.stack(out).to(device=cameras.device, dtype=cameras.dtype)


class OracleModel(ModelPlugin):
    """The registered ``oracle``: fully defined by its config (no checkpoint, nothing to train)."""

    config_class = OracleConfig
    requires_checkpoint = False
    generator_class = OracleGenerator

    def build(self, config: OracleConfig) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator_class(config)}

    def stages(self, config: OracleConfig) -> list:
        return []


class InconsistentOracleModel(OracleModel):
    """The registered ``oracle_inconsistent`` (kind ``calibration``)."""

    generator_class = InconsistentOracleGenerator
