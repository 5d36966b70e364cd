"""The blobs model: representation, generator, discriminator and training recipe.

Everything here uses zoo3d's public API only: ``zoo3d.core`` interfaces, the shared
``VolumeRenderer``, the ``CoordConvDiscriminator`` from ``zoo3d.nn`` and the GAN losses in
``zoo3d.train.losses``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field
from torch import Tensor, nn

from zoo3d.config import Config, RunConfig
from zoo3d.core import Generator, LossResult, ModelPlugin, OptimizerSpec, Phase, Radiance, Stage, StepContext
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.render import VolumeRenderer
from zoo3d.train.losses import discriminator_loss, generator_loss, r1_penalty


class BlobsSection(Config):
    num_blobs: int = Field(8, ge=1)
    z_dim: int = Field(64, ge=1)
    hidden: int = Field(128, ge=1)
    resolution: int = Field(64, ge=8)
    num_samples: int = Field(32, ge=2)
    extent: float = Field(0.12, gt=0, description="blob centres lie in [-extent, extent]^3")
    lr_g: float = 1e-4
    lr_d: float = 2e-4
    r1_gamma: float = 1.0


class BlobsConfig(RunConfig):
    blobs: BlobsSection = Field(default_factory=BlobsSection)


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
        b = cfg.blobs
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


class BlobsModel(ModelPlugin):
    """The recipe: one stage of alternating D and G steps (non-saturating loss, R1 on reals)."""

    config_class = BlobsConfig

    def build(self, config: BlobsConfig) -> dict[str, nn.Module]:
        return {"generator": BlobsGenerator(config),
                "discriminator": CoordConvDiscriminator(config.blobs.resolution, max_channels=64, pose_dim=0)}

    def stages(self, config: BlobsConfig) -> list[Stage]:
        b = config.blobs

        def d_loss(ctx: StepContext) -> LossResult:
            disc, real = ctx.modules["discriminator"], ctx.real.images.requires_grad_(True)
            with torch.no_grad():
                fake = ctx.generator(ctx.sample_z(real.shape[0]), ctx.sample_cameras(real.shape[0])).rgb
            real_logits, fake_logits = disc(real).logit, disc(fake).logit
            adv = discriminator_loss(real_logits, fake_logits)
            r1 = r1_penalty(real_logits, real, b.r1_gamma)
            return LossResult(adv + r1, {"d_adv": adv.item(), "r1": r1.item()})

        def g_loss(ctx: StepContext) -> LossResult:
            n = config.train.batch_size
            fake = ctx.generator(ctx.sample_z(n), ctx.sample_cameras(n)).rgb
            loss = generator_loss(ctx.modules["discriminator"](fake).logit)
            return LossResult(loss, {"g_adv": loss.item()})

        return [Stage(
            name="gan", steps=config.train.steps, resolution=b.resolution, batch_size=config.train.batch_size,
            phases=[Phase("D", "d", d_loss), Phase("G", "g", g_loss)],
            optimizers={"g": OptimizerSpec(["generator"], lr=b.lr_g, betas=(0.0, 0.9), grad_clip=1.0),
                        "d": OptimizerSpec(["discriminator"], lr=b.lr_d, betas=(0.0, 0.9), grad_clip=1.0)},
        )]
