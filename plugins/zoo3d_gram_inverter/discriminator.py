"""The efficient-GRAM stage's discriminator: GRAM's pose-aware CoordConv D or EG3D's camera-conditioned
StyleGAN2 D (``discriminator.architecture``), and the real batches the conditioned one needs: posed, and posed in the
camera prior's scene, since the fakes' labels are drawn from the prior."""

from __future__ import annotations

import torch

from zoo3d.cameras import EG3D_LABEL_DIM
from zoo3d.core.model import StepContext
from zoo3d.nn.discriminators import StyleGAN2Discriminator
from zoo3d.train.gan import Sample, real_cameras, real_sample

from zoo3d_gram import build_discriminator as build_gram_discriminator
from zoo3d_gram_inverter.config import GramInverterConfig

__all__ = ["LABEL_SCENE_REMEDY", "build_discriminator", "posed_real_sample"]

#: The ways out of :func:`zoo3d.train.gan.check_label_scene`'s refusal for GRAMInverter: its manifolds, their
#: gridding and the render's depth range are laid out for cameras 1 from the origin, so only the field of view moves.
LABEL_SCENE_REMEDY = ("set camera.fov to the data's where only the fields of view differ (GRAM's manifolds are laid "
                      "out for cameras 1 from the origin), use data posed in the prior's scene, or set "
                      "discriminator.conditioned=false")


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
    an image together with the camera it was seen from). Data posed in another scene than the generator's camera
    prior, which draws the fakes' labels, is refused before a new run begins
    (:meth:`zoo3d_gram_inverter.model.GramInverterModel.check_new_run`)."""
    real_cameras(ctx, "GRAMInverter's efficient-GRAM stage", "its discriminator is camera-conditioned",
                 " or set discriminator.conditioned=false")
    return real_sample(ctx, requires_grad, resolution)
