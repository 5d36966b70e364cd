"""The gram model plugin: builds GramGenerator + CoordConvDiscriminator and GRAM's one-stage recipe."""

from __future__ import annotations

from functools import partial

import torch

from zoo3d.core.model import ModelPlugin, OptimizerSpec, Phase, Stage
from zoo3d.nn.discriminators import CoordConvDiscriminator

from zoo3d_gram.config import GramConfig
from zoo3d_gram.generator import GramGenerator
from zoo3d_gram.losses import discriminator_step_loss, generator_step_loss

__all__ = ["GramModel", "build_discriminator", "gram_phases", "gram_optimizers"]


def build_discriminator(config: GramConfig) -> CoordConvDiscriminator:
    """GRAM's CoordConv residual discriminator at the generator's resolution: 1 logit + (yaw, pitch)."""
    d = config.discriminator
    return CoordConvDiscriminator(config.generator.resolution, max_channels=d.max_channels, pose_dim=2,
                                  channel_scale=d.channel_scale)


def gram_phases(config: GramConfig, resolution: int | None = None) -> list[Phase]:
    """D phase then G phase at ``resolution`` (default: the generator's), with the config's loss weights."""
    res = resolution or config.generator.resolution
    lc = config.loss
    return [
        Phase("discriminator", "D", partial(discriminator_step_loss, resolution=res, r1_gamma=lc.r1_gamma,
                                            lambda_pos=lc.lambda_pos, lambda_realpos=lc.lambda_realpos)),
        Phase("generator", "G", partial(generator_step_loss, resolution=res, lambda_pos=lc.lambda_pos)),
    ]


def gram_optimizers(config: GramConfig) -> dict[str, OptimizerSpec]:
    o = config.optim
    return {
        "G": OptimizerSpec(["generator"], lr=o.g_lr, betas=tuple(o.betas), grad_clip=o.grad_clip),
        "D": OptimizerSpec(["discriminator"], lr=o.d_lr, betas=tuple(o.betas), grad_clip=o.grad_clip),
    }


class GramModel(ModelPlugin):
    """GRAM (Deng et al., CVPR 2022): radiance manifolds trained adversarially with a pose-aware D."""

    config_class = GramConfig
    imports_releases = True

    def import_release(self, release, config: GramConfig):
        """microsoft/GRAM ``generator.pth`` (state dict) or ``ema.pth`` (torch_ema object); see
        :mod:`zoo3d_gram.upstream`."""
        from zoo3d_gram.upstream import import_gram_release

        return import_gram_release(release, config)

    def build(self, config: GramConfig) -> dict[str, torch.nn.Module]:
        return {"generator": GramGenerator(config.generator, config.camera),
                "discriminator": build_discriminator(config)}

    def stages(self, config: GramConfig) -> list[Stage]:
        return [Stage(name="gram", steps=config.train.steps, phases=gram_phases(config),
                      optimizers=gram_optimizers(config), resolution=config.generator.resolution,
                      batch_size=config.train.batch_size, ema=True)]
