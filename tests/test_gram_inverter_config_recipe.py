"""GRAMInverter's ffhq256 recipe against what it takes from GRAM, and which stored configs are read as the shape
before ``stages``.

GRAMInverter (Deng, Wang, Shum, CVPR 2023, arXiv 2211.13901) has no public code: its Efficient GRAM is trained as
GRAM is on FFHQ, whose facts are GRAM's code (microsoft/GRAM configs.py, processes.py, generators.py; summarised in
the shared reference notes gram_family.md sections 4-5): a Gaussian pose prior about the frontal view with yaw std
0.3 and pitch std 0.155, fov 12, radius 1, rays over [0.88, 1.12], images at 256², GRAM's CoordConv discriminator
capped at 400 channels with a pose head, R1 every step with gamma 1, pose MSE 15 on fakes and on reals, Adam betas
(0, 0.9) and gradient-norm clipping at 1.0, truncation centres averaged over 10000 latents. Then the paper trains
the encoder, then the detail reconstructor, each against the frozen parts before it, with reconstruction losses
(no adversary): plain Adam. The old shape's defaults are those of the commit before 7965621 (OptimConfig,
StageSteps, LossConfig, TrainConfig).
"""

from __future__ import annotations

import inspect

import torch

from zoo3d.config import StageConfig, load_run_config
from zoo3d.plugins import get_model_spec

from zoo3d_gram_inverter.config import DETAIL, EFFICIENT_GRAM, ENCODER, GramInverterConfig

ADAM_BETAS = inspect.signature(torch.optim.Adam).parameters["betas"].default


def test_the_ffhq256_recipe_trains_efficient_gram_as_gram_on_ffhq_then_the_inversion_with_plain_adam():
    spec = get_model_spec("gram_inverter")
    cfg = load_run_config(GramInverterConfig, spec.name, spec.presets_dir, "ffhq256", None, [])
    gan, encoder, detail = spec.load().stages(cfg)
    assert [s.name for s in (gan, encoder, detail)] == [EFFICIENT_GRAM, ENCODER, DETAIL]
    assert (gan.resolution, cfg.generator.resolution) == (256, 256)
    for role in ("generator", "discriminator"):
        assert (tuple(gan.optimizers[role].betas), gan.optimizers[role].grad_clip) == ((0.0, 0.9), 1.0), role
    assert [p.name for p in gan.phases] == ["discriminator", "generator"]  # R1 inside every discriminator step
    for phase in gan.phases:
        loss = phase.loss.keywords["loss"]
        assert (loss.r1_gamma, loss.r1_every, loss.lambda_pos, loss.lambda_realpos) == (1.0, None, 15.0, 15.0)
        assert (loss.pose_loss, loss.topk_interval) == ("mse", None)
    for stage, role in ((encoder, "encoder"), (detail, "detail")):
        assert list(stage.optimizers) == [role]
        assert (tuple(stage.optimizers[role].betas), stage.optimizers[role].grad_clip) == (ADAM_BETAS, None), role
    cam, render = cfg.camera, cfg.generator.render
    assert (cam.distribution, cam.yaw_mean, cam.yaw_std, cam.pitch_mean, cam.pitch_std, cam.fov, cam.radius) == (
        "gaussian", 0.0, 0.3, 0.0, 0.155, 12.0, 1.0)
    assert (render.near, render.far) == (0.88, 1.12)
    assert (cfg.discriminator.architecture, cfg.discriminator.max_channels) == ("gram", 400)
    assert cfg.generator.truncation_samples == 10000
    # and the defaults are that recipe: a config without a preset trains the same stages
    assert GramInverterConfig().stages == cfg.stages


#: the old shape's defaults (before 7965621): TrainConfig.steps / batch_size, gram_inverter's gan_optim factory,
#: StageSteps (encoder_stage, detail_stage), zoo3d_gram's LossConfig
OLD_GAN = {"steps": 1000, "batch_size": 8, "g_lr": 2e-4, "d_lr": 2e-4, "betas": (0.0, 0.9), "grad_clip": 1.0}
OLD_STEPS = {"steps": 1000, "batch_size": 8, "lr": 1e-4, "betas": (0.9, 0.999)}


def _old_default_stages() -> list[StageConfig]:
    g = OLD_GAN
    return [StageConfig(name=EFFICIENT_GRAM, steps=g["steps"], batch_size=g["batch_size"],
                        lr={"generator": g["g_lr"], "discriminator": g["d_lr"]}, betas=g["betas"],
                        grad_clip=g["grad_clip"]),
            *(StageConfig(name=name, steps=OLD_STEPS["steps"], batch_size=OLD_STEPS["batch_size"],
                          lr={role: OLD_STEPS["lr"]}, betas=OLD_STEPS["betas"])
              for name, role in ((ENCODER, "encoder"), (DETAIL, "detail")))]


def test_a_config_without_stages_or_with_an_old_section_is_read_as_the_old_shape():
    def upgraded(stored):
        return GramInverterConfig.model_validate(GramInverterConfig.upgrade_stored(stored))

    # no stages and no old section: everything was left to the old defaults
    cfg = upgraded({"model": "gram_inverter", "train": {"seed": 3}})
    assert cfg.stages == _old_default_stages() and cfg.train.seed == 3
    # an old section next to stages: the old shape, its stages rebuilt from the old keys
    today = GramInverterConfig().model_dump(mode="json")
    cfg = upgraded({**today, "gan_loss": {"r1_gamma": 3.0}, "loss": {"latent": 0.5, "depth": 2.0},
                    "encoder_stage": {"steps": 7}})
    assert cfg.stages[1].steps == 7 and cfg.stages[0] == _old_default_stages()[0]
    # the old adversarial weights (gan_loss, its defaults for the keys it left) and the old loss keys both arrive
    loss = cfg.loss
    assert (loss.r1_gamma, loss.lambda_pos, loss.lambda_realpos, loss.latent, loss.depth) == (3.0, 15.0, 15.0,
                                                                                             0.5, 2.0)
