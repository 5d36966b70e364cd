"""The blobs model: representation, generator, discriminator and training recipe.

Everything here uses zoo3d's public API only: ``zoo3d.core`` interfaces, the shared
``VolumeRenderer``, the ``CoordConvDiscriminator`` from ``zoo3d.nn``, the run-config shape of
``zoo3d.config`` and the shared adversarial steps of ``zoo3d.train.gan``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field
from torch import Tensor, nn

from zoo3d.config import Config, GanLossConfig, RunConfig, StageConfig
from zoo3d.core import Generator, ModelPlugin, Radiance, Stage, StepContext, stage_optimizers
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.render import VolumeRenderer
from zoo3d.train.gan import GANParts, Sample, adversarial_loss, gan_phases, lazy_r1_interval


class BlobsGeneratorConfig(Config):
    num_blobs: int = Field(8, ge=1)
    z_dim: int = Field(64, ge=1)
    hidden: int = Field(128, ge=1)
    resolution: int = Field(64, ge=8)
    num_samples: int = Field(32, ge=2)
    extent: float = Field(0.12, gt=0, description="blob centres lie in [-extent, extent]^3")


class BlobsDiscriminatorConfig(Config):
    max_channels: int = Field(64, ge=1)


class BlobsLossConfig(GanLossConfig):
    """Non-saturating loss and R1 on reals in every discriminator step; no pose terms."""

    r1_gamma: float = Field(1.0, ge=0)


def _stages() -> list[StageConfig]:
    return [StageConfig(name="gan", steps=1000, batch_size=8, lr={"generator": 1e-4, "discriminator": 2e-4},
                        betas=(0.0, 0.9), grad_clip=1.0)]


class BlobsConfig(RunConfig):
    """zoo3d's one config shape: the shared sections, one per kind of module, ``loss`` and ``stages``."""

    generator: BlobsGeneratorConfig = Field(default_factory=BlobsGeneratorConfig)
    discriminator: BlobsDiscriminatorConfig = Field(default_factory=BlobsDiscriminatorConfig)
    loss: BlobsLossConfig = Field(default_factory=BlobsLossConfig)
    stages: list[StageConfig] = Field(default_factory=_stages)
    stage_names = ("gan",)
    stage_roles = {"gan": ("generator", "discriminator")}
    resolution_keys = "generator.resolution"


@dataclass
class BlobField:
    """A density field: sum of isotropic Gaussians (non-negative, so rendered with ReLU activation);
    colour is their density-weighted mean.

    centres (B, K, 3), radii (B, K), densities (B, K) per world unit, colours (B, K, 3) in [0, 1].
    """

    centres: Tensor
    radii: Tensor
    densities: Tensor
    colours: Tensor
    bounds: float
    kind: str = "density"

    def query(self, points: Tensor, dirs: Tensor) -> Radiance:
        d2 = (points[:, :, None, :] - self.centres[:, None]).square().sum(-1)  # (B, P, K)
        contrib = self.densities[:, None] * torch.exp(-0.5 * d2 / self.radii[:, None].square())
        sigma = contrib.sum(-1, keepdim=True)
        rgb = (contrib[..., None] * self.colours[:, None]).sum(2) / sigma.clamp_min(1e-6)
        return Radiance(rgb=rgb, sigma=sigma)


class BlobsGenerator(Generator):
    """z -> K blobs (an MLP), rendered by the shared VolumeRenderer over a background colour."""

    def __init__(self, cfg: BlobsConfig):
        super().__init__()
        b = cfg.generator
        self.z_dim, self.resolution, self.camera_prior = b.z_dim, (b.resolution, b.resolution), cfg.camera
        self.num_blobs, self.extent = b.num_blobs, b.extent
        self.net = nn.Sequential(nn.Linear(b.z_dim, b.hidden), nn.LeakyReLU(0.2), nn.Linear(b.hidden, b.hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(b.hidden, b.num_blobs * 8))
        self.register_buffer("z_mean", torch.zeros(b.z_dim))
        near, far = cfg.camera.radius - 0.12, cfg.camera.radius + 0.12
        self.renderer = VolumeRenderer(num_samples=b.num_samples, num_importance=0, near=near, far=far,
                                       density_activation="relu", background=(0.5, 0.5, 0.5))

    def represent(self, z: Tensor, psi: float = 1.0) -> BlobField:
        z = self.z_mean + psi * (z - self.z_mean)
        p = self.net(z).view(z.shape[0], self.num_blobs, 8)
        return BlobField(centres=self.extent * torch.tanh(p[..., :3]),
                         radii=self.extent * (0.1 + 0.4 * torch.sigmoid(p[..., 3])),
                         densities=200.0 * torch.nn.functional.softplus(p[..., 4]),
                         colours=torch.sigmoid(p[..., 5:8]), bounds=2 * self.extent)

    def render(self, representation, cameras, resolution=None):
        return self.renderer.render(representation, cameras, resolution or self.resolution)


def render_fakes(ctx: StepContext, n: int) -> Sample:
    """n images of prior latents seen from prior cameras (the cameras are kept for the record)."""
    cameras = ctx.sample_cameras(n)
    return Sample(ctx.generator(ctx.sample_z(n), cameras).rgb, cameras)


class BlobsModel(ModelPlugin):
    """The recipe: one stage of zoo3d's shared adversarial steps (non-saturating loss, R1 on reals)."""

    config_class = BlobsConfig

    def build(self, config: BlobsConfig) -> dict[str, nn.Module]:
        return {"generator": BlobsGenerator(config),
                "discriminator": CoordConvDiscriminator(config.generator.resolution,
                                                        max_channels=config.discriminator.max_channels, pose_dim=0)}

    def stages(self, config: BlobsConfig) -> list[Stage]:
        stage = config.stage("gan")
        loss = adversarial_loss(config.stage_loss("gan"))
        phases = gan_phases(loss, GANParts(fakes=render_fakes))
        optimizers = stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["discriminator"]},
                                      lazy_every={"discriminator": lazy_r1_interval(loss)})
        return [Stage.from_config(stage, phases, optimizers, resolution=config.generator.resolution)]
