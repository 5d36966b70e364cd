"""The efficient-GRAM stage's discriminator: GRAM's pose-aware CoordConv D or EG3D's camera-conditioned
StyleGAN2 D (``discriminator.architecture``), and the real batches the conditioned one needs."""

from __future__ import annotations

import torch

from zoo3d.cameras import EG3D_LABEL_DIM
from zoo3d.core.model import StepContext
from zoo3d.nn.discriminators import StyleGAN2Discriminator
from zoo3d.train.gan import Sample, real_cameras, real_sample

from zoo3d_gram import build_discriminator as build_gram_discriminator
from zoo3d_gram_inverter.config import GramInverterConfig

__all__ = ["build_discriminator", "posed_real_sample"]


def build_discriminator(config: GramInverterConfig) -> torch.nn.Module:
    """The discriminator ``config.discriminator`` names, at the generator's resolution."""
    d = config.discriminator
    if d.architecture == "gram":
        return build_gram_discriminator(config)
    return StyleGAN2Discriminator(config.generator.resolution, channel_base=d.channel_base,
                                  max_channels=d.channel_max, c_dim=EG3D_LABEL_DIM if d.camera_conditioned else 0,
                                  mapping_layers=d.mapping_layers, mbstd_group_size=max(d.mbstd_group, 1))


def posed_real_sample(ctx: StepContext, requires_grad: bool, resolution: int | None = None) -> Sample:
    """:func:`zoo3d.train.gan.real_sample`, refusing data without poses (a camera-conditioned D scores
    an image together with the camera it was seen from)."""
    real_cameras(ctx, "GRAMInverter's efficient-GRAM stage", "its discriminator is camera-conditioned",
                 " or set discriminator.conditioned=false")
    return real_sample(ctx, requires_grad, resolution)
