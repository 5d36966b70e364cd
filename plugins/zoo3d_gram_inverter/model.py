"""The gram_inverter model plugin: modules, the three-stage recipe and the single-pass inverter.

1. ``gram_inverter.efficient_gram`` (``train.steps``, ``train.batch_size``): Efficient GRAM against GRAM's
   CoordConv discriminator with pose head, GRAM's adversarial phases (non-saturating + R1 + pose), EMA.
2. ``gram_inverter.encoder`` (``encoder_stage``): starts by putting the EMA weights into the generator,
   which stays frozen from here on; trains E_w.
3. ``gram_inverter.detail`` (``detail_stage``): trains the detail reconstructor; E_w frozen.
"""

from __future__ import annotations

from functools import partial

import torch

from zoo3d.core.model import ModelPlugin, OptimizerSpec, Phase, Stage, StepContext
from zoo3d.nn.discriminators import CoordConvDiscriminator

from zoo3d_gram import gram_optimizers, gram_phases
from zoo3d_gram_inverter.config import GramInverterConfig
from zoo3d_gram_inverter.detail import DetailReconstructor
from zoo3d_gram_inverter.efficient_gram import EfficientGramGenerator
from zoo3d_gram_inverter.encoders import CoarseEncoder
from zoo3d_gram_inverter.inverter import GramInverter
from zoo3d_gram_inverter.losses import detail_step_loss, encoder_step_loss

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


class GramInverterModel(ModelPlugin):
    """GRAMInverter (Deng, Wang, Shum, CVPR 2023): Efficient GRAM + encoder + detail-manifold reconstructor."""

    config_class = GramInverterConfig

    def build(self, config: GramInverterConfig) -> dict[str, torch.nn.Module]:
        g, e = config.generator, config.encoder
        generator = EfficientGramGenerator(g, config.camera)
        d = config.discriminator
        return {
            "generator": generator,
            "discriminator": CoordConvDiscriminator(g.resolution, d.max_channels, pose_dim=2,
                                                    channel_scale=d.channel_scale),
            "encoder": CoarseEncoder(g.resolution, generator.num_ws, g.w_dim, e.channels, e.max_channels,
                                     e.pose_head, (config.camera.yaw_mean, config.camera.pitch_mean)),
            "detail": DetailReconstructor(config.detail, g.resolution, g.feature_dim, g.texture_resolution,
                                          g.render.near, g.render.far),
        }

    def stages(self, config: GramInverterConfig) -> list[Stage]:
        res = config.generator.resolution
        es, ds = config.encoder_stage, config.detail_stage
        return [
            Stage(name="gram_inverter.efficient_gram", steps=config.train.steps, resolution=res,
                  batch_size=config.train.batch_size, ema=True, phases=gram_phases(config.gan_loss, res),
                  optimizers=gram_optimizers(config.gan_optim, ["generator"], ["discriminator"]),
                  frozen=["encoder", "detail"]),
            Stage(name="gram_inverter.encoder", steps=es.steps, resolution=res, batch_size=es.batch_size, ema=False,
                  phases=[Phase("encoder", "encoder", partial(encoder_step_loss, config=config))],
                  optimizers={"encoder": OptimizerSpec(["encoder"], lr=es.lr, betas=tuple(es.betas))},
                  frozen=["generator", "discriminator", "detail"], on_start=_freeze_generator_as_ema),
            Stage(name="gram_inverter.detail", steps=ds.steps, resolution=res, batch_size=ds.batch_size, ema=False,
                  phases=[Phase("detail", "detail", partial(detail_step_loss, config=config))],
                  optimizers={"detail": OptimizerSpec(["detail"], lr=ds.lr, betas=tuple(ds.betas))},
                  frozen=["generator", "discriminator", "encoder"]),
        ]

    def build_inverter(self, config: GramInverterConfig, modules: dict[str, torch.nn.Module]) -> GramInverter:
        return GramInverter(modules["generator"], modules["encoder"], modules["detail"])
