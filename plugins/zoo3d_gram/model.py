"""The gram model plugin: builds GramGenerator + CoordConvDiscriminator and GRAM's one-stage recipe.

GRAM trains with the shared adversarial steps (:mod:`zoo3d.train.gan`): non-saturating loss, R1 every
step, and MSE pose regression of fakes (D and G) and of reals (D). Only how fakes are drawn is GRAM's:
:func:`render_fakes`. GRAM-HD's stage 1 and Efficient GRAM reuse the recipe through :func:`gram_phases`.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from zoo3d.config import GanLossConfig
from zoo3d.core.model import ModelPlugin, Phase, Stage, StepContext, stage_optimizers
from zoo3d.nn.discriminators import CoordConvDiscriminator
from zoo3d.train.gan import (GANParts, Sample, adversarial_loss, check_real_pose_data, gan_phases, lazy_r1_interval,
                             real_sample, score_with)

from zoo3d_gram.config import GramConfig
from zoo3d_gram.generator import GramGenerator

__all__ = ["GramModel", "build_discriminator", "gram_phases", "render_fakes"]


def build_discriminator(config: GramConfig) -> CoordConvDiscriminator:
    """GRAM's CoordConv residual discriminator at the generator's resolution: 1 logit + (yaw, pitch).

    Any config with ``generator.resolution`` and GRAM's ``discriminator`` section will do (GRAMInverter's)."""
    d = config.discriminator
    return CoordConvDiscriminator(config.generator.resolution, max_channels=d.max_channels, pose_dim=2,
                                  channel_scale=d.channel_scale, mbstd_group=d.mbstd_group)


def render_fakes(ctx: StepContext, n: int, resolution: int,
                 generator: Callable[[StepContext], torch.nn.Module] | None = None) -> Sample:
    """n images (n, 3, R, R) of prior latents from prior cameras (z drawn first, then the cameras)."""
    gen = generator(ctx) if generator is not None else ctx.generator
    z = gen.sample_z(n, generator=ctx.rng, device=ctx.device)
    cameras = gen.sample_cameras(n, generator=ctx.rng, device=ctx.device)
    return Sample(gen(z, cameras, resolution=(resolution, resolution)).rgb, cameras)


def gram_phases(loss: GanLossConfig, resolution: int,
                generator: Callable[[StepContext], torch.nn.Module] | None = None,
                discriminator: str = "discriminator",
                reals: Callable[..., Sample] = real_sample) -> list[Phase]:
    """GRAM's D phase then G phase at ``resolution`` with the adversarial weights of ``loss`` (any model's
    ``loss`` section: :class:`zoo3d.config.GanLossConfig`'s names), for the generator ``generator(ctx)``
    (default: the model's generator) against the module ``discriminator``, which sees the images and their
    cameras; ``reals(ctx, requires_grad, resolution)`` prepares the real batches (default:
    :func:`zoo3d.train.gan.real_sample`)."""
    parts = GANParts(fakes=partial(render_fakes, resolution=resolution, generator=generator),
                     reals=partial(reals, resolution=resolution), discriminate=score_with(discriminator))
    return gan_phases(adversarial_loss(loss), parts)


class GramModel(ModelPlugin):
    """GRAM (Deng et al., CVPR 2022): radiance manifolds trained adversarially with a pose-aware D."""

    config_class = GramConfig
    imports_releases = True

    def import_release(self, release, config: GramConfig):
        """microsoft/GRAM ``generator.pth`` (state dict) or ``ema.pth`` (torch_ema object); see
        :mod:`zoo3d_gram.upstream`."""
        from zoo3d_gram.upstream import import_gram_release

        return import_gram_release(release, config)

    def release_settings(self, release, config: GramConfig) -> dict[str, int]:
        """The manifold predictor's and radiance network's widths and depths, z_dim and the mapping's, read from
        the shapes of a ``generator.pth`` or ``ema.pth``."""
        from zoo3d_gram.upstream import release_settings

        return release_settings(release)

    def build(self, config: GramConfig) -> dict[str, torch.nn.Module]:
        return {"generator": GramGenerator(config.generator, config.camera),
                "discriminator": build_discriminator(config)}

    def benchmark_generator(self, config: GramConfig, resolution: int | None = None) -> GramGenerator:
        """GRAM's generator of ``config`` rendering at ``resolution``² (every parameter trains)."""
        g = config.generator.model_copy(update={"resolution": resolution or config.generator.resolution})
        return GramGenerator(g, config.camera)

    def stages(self, config: GramConfig) -> list[Stage]:
        res = config.generator.resolution
        loss = config.stage_loss("gram")
        optimizers = stage_optimizers(config.stage("gram"), {"generator": ["generator"],
                                                             "discriminator": ["discriminator"]},
                                      lazy_every={"discriminator": lazy_r1_interval(loss)})
        return [Stage.from_config(config.stage("gram"), gram_phases(loss, res), optimizers, resolution=res)]

    def check_new_run(self, config: GramConfig, modules: dict[str, torch.nn.Module]) -> None:
        """Data without camera poses is refused while the recipe regresses the reals' poses
        (:func:`zoo3d.train.gan.check_real_pose_data`)."""
        check_real_pose_data(config, ["gram"], config.generator.resolution, "GRAM")
