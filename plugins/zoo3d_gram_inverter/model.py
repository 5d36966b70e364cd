"""The gram_inverter model plugin: modules, the three-stage recipe and the single-pass inverter.

Each stage is sized by its entry of the config's ``stages`` (steps, batch, lr by optimiser role):
1. ``gram_inverter.efficient_gram``: Efficient GRAM against GRAM's CoordConv discriminator with pose head
   (or EG3D's camera-conditioned StyleGAN2 D, ``discriminator.architecture``), GRAM's adversarial phases
   (non-saturating + R1 + pose, when the D has a pose head), EMA; roles ``generator``, ``discriminator``; the
   manifold predictor frozen when ``generator.learn_manifolds`` is false.
2. ``gram_inverter.encoder``: starts by putting the EMA weights into the generator, which stays frozen from
   here on; trains E_w (role ``encoder``).
3. ``gram_inverter.detail``: trains the detail reconstructor (role ``detail``); E_w frozen.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from zoo3d.core.model import ModelPlugin, Phase, Stage, StepContext, stage_optimizers
from zoo3d.train.gan import Sample, lazy_r1_interval, real_sample

from zoo3d_gram import gram_phases
from zoo3d_gram_inverter.config import DETAIL, EFFICIENT_GRAM, ENCODER, GramInverterConfig
from zoo3d_gram_inverter.detail import DetailReconstructor
from zoo3d_gram_inverter.discriminator import build_discriminator, check_label_scene_of_run, posed_real_sample
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator
from zoo3d_gram_inverter.encoders import CoarseEncoder
from zoo3d_gram_inverter.inverter import GramInverter
from zoo3d_gram_inverter.losses import check_render_distance, detail_step_loss, encoder_step_loss

__all__ = ["GramInverterModel"]


def _freeze_generator_as_ema(ctx: StepContext) -> None:
    """Encoder stage start: the generator takes its EMA weights (what sampling showed), then stays frozen."""
    if ctx.ema is None:
        return
    with torch.no_grad():
        for dst, src in zip(ctx.generator.parameters(), ctx.ema.parameters()):
            dst.copy_(src)
        for dst, src in zip(ctx.generator.buffers(), ctx.ema.buffers()):
            dst.copy_(src)


def reals_a_later_stage_renders_from(ctx: StepContext, requires_grad: bool, resolution: int | None = None, *,
                                     reals: Callable[..., Sample], config: GramInverterConfig,
                                     stage: str) -> Sample:
    """``reals``' sample, whose cameras the ``stage`` stage (encoder or detail) will render the generator from: at
    the efficient-GRAM stage's first step, cameras it cannot reach are refused now rather than after the stage
    (:func:`zoo3d_gram_inverter.losses.check_render_distance`)."""
    sample = reals(ctx, requires_grad, resolution)
    if ctx.stage_step == 0 and sample.cameras is not None:
        check_render_distance(sample.cameras, config, stage)
    return sample


class GramInverterModel(ModelPlugin):
    """GRAMInverter (Deng, Wang, Shum, CVPR 2023): Efficient GRAM + encoder + detail-manifold reconstructor."""

    config_class = GramInverterConfig

    def build(self, config: GramInverterConfig) -> dict[str, torch.nn.Module]:
        g, e = config.generator, config.encoder
        generator = EfficientGramGenerator(g, config.camera)
        return {
            "generator": generator,
            "discriminator": build_discriminator(config),
            "encoder": CoarseEncoder(g.resolution, generator.num_ws, g.w_dim, e.channels, e.max_channels,
                                     e.pose_head, (config.camera.yaw_mean, config.camera.centre_pitch)),
            "detail": DetailReconstructor(config.detail, g.resolution, g.feature_dim, g.texture_resolution,
                                          g.render.near, g.render.far, generator.background_z),
        }

    def stages(self, config: GramInverterConfig) -> list[Stage]:
        res = config.generator.resolution
        fixed_geometry = [] if config.generator.learn_manifolds else ["generator.manifold"]
        gan, enc, det = config.stage(EFFICIENT_GRAM), config.stage(ENCODER), config.stage(DETAIL)
        reals = posed_real_sample if config.discriminator.camera_conditioned else real_sample
        if enc.steps > 0 or det.steps > 0:
            reals = partial(reals_a_later_stage_renders_from, reals=reals, config=config,
                            stage="encoder" if enc.steps > 0 else "detail")
        encoder_loss = partial(encoder_step_loss, config=config, weights=config.stage_loss(ENCODER))
        detail_loss = partial(detail_step_loss, config=config, weights=config.stage_loss(DETAIL))
        return [
            Stage.from_config(gan, gram_phases(config.stage_loss(EFFICIENT_GRAM), res, reals=reals),
                              stage_optimizers(gan, {"generator": ["generator"], "discriminator": ["discriminator"]},
                                               lazy_every={"discriminator": lazy_r1_interval(
                                                   config.stage_loss(EFFICIENT_GRAM))}),
                              resolution=res, ema=True, frozen=["encoder", "detail", *fixed_geometry]),
            Stage.from_config(enc, [Phase("encoder", "encoder", encoder_loss)],
                              stage_optimizers(enc, {"encoder": ["encoder"]}), resolution=res, ema=False,
                              frozen=["generator", "discriminator", "detail"], on_start=_freeze_generator_as_ema),
            Stage.from_config(det, [Phase("detail", "detail", detail_loss)],
                              stage_optimizers(det, {"detail": ["detail"]}), resolution=res, ema=False,
                              frozen=["generator", "discriminator", "encoder"]),
        ]

    def check_new_run(self, config: GramInverterConfig, modules: dict[str, torch.nn.Module]) -> None:
        """A camera-conditioned discriminator's data, all of it, posed in the generator's camera prior's scene,
        before the run's folder exists (:func:`zoo3d_gram_inverter.discriminator.check_label_scene_of_run`)."""
        check_label_scene_of_run(config, modules["generator"].camera_prior)

    def build_inverter(self, config: GramInverterConfig, modules: dict[str, torch.nn.Module]) -> GramInverter:
        return GramInverter(modules["generator"], modules["encoder"], modules["detail"])
