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

import torch

from zoo3d.core.model import ModelPlugin, Phase, Stage, StepContext, stage_optimizers
from zoo3d.train.data import run_data_cameras
from zoo3d.train.gan import check_label_scene, check_real_pose_data, lazy_r1_interval, real_sample, unposed_data

from zoo3d_gram import gram_phases
from zoo3d_gram_inverter.config import DETAIL, EFFICIENT_GRAM, ENCODER, GramInverterConfig
from zoo3d_gram_inverter.detail import DetailReconstructor
from zoo3d_gram_inverter.discriminator import LABEL_SCENE_REMEDY, build_discriminator, posed_real_sample
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
        """The data's cameras, all of them, before the run's folder exists: posed in the generator's camera prior's
        scene when the efficient-GRAM stage trains a camera-conditioned discriminator
        (:func:`zoo3d.train.gan.check_label_scene`), and within the generator's reach when the encoder or detail
        stage will render from them (:func:`zoo3d_gram_inverter.losses.check_render_distance`). GRAM's discriminator
        (not conditioned) regresses the reals' poses instead, and data without them is refused while it does
        (:func:`zoo3d.train.gan.check_real_pose_data`)."""
        if not config.discriminator.camera_conditioned:
            check_real_pose_data(config, [EFFICIENT_GRAM], config.generator.resolution, "GRAMInverter")
        labels = config.discriminator.camera_conditioned and config.stage(EFFICIENT_GRAM).steps > 0
        renders = next((name for name, key in (("encoder", ENCODER), ("detail", DETAIL))
                        if config.stage(key).steps > 0), None)
        if not labels and renders is None:
            return
        cameras = run_data_cameras(config, config.generator.resolution)
        if cameras is None:  # unposed data: the conditioned D cannot score it, the later stages take it
            if labels:  # GRAM's discriminator takes unposed data only without its real-pose loss
                pose_loss = config.stage_loss(EFFICIENT_GRAM).lambda_realpos > 0
                raise unposed_data(config, "GRAMInverter", " or set discriminator.conditioned=false"
                                   + " with loss.lambda_realpos=0" * pose_loss)
            return
        if labels:
            check_label_scene(cameras, modules["generator"].camera_prior, "GRAMInverter", LABEL_SCENE_REMEDY)
        if renders is not None:
            check_render_distance(cameras, config, renders)

    def build_inverter(self, config: GramInverterConfig, modules: dict[str, torch.nn.Module]) -> GramInverter:
        return GramInverter(modules["generator"], modules["encoder"], modules["detail"])
