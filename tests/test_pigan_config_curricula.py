"""pi-GAN's config against the authors' curricula and against the config shape before ``stages``.

The recipes are compared with marcoamonteiro/pi-GAN ``curriculums.py`` written out below (``CelebA`` lines
85-118, ``CARLA`` 120-155, ``CATS`` 159-193) and with what ``train.py`` does with them: stage k trains from its
curriculum key to the next one, the generator's loss is summed over ``batch_split`` sub-batches before
``clip_grad_norm_(grad_clip)`` (lines 258-284; the discriminator's is one batch, line 251), so the batch-mean
gradient is clipped at ``grad_clip / batch_split``, and the top-k is taken within each sub-batch (lines 266-269).
The old shape's defaults are those of ``PiGanTrainingConfig`` / ``PiGanStageConfig`` of the commit before
6d12251 (plugins/zoo3d_pigan/config.py), written out here.
"""

from __future__ import annotations

import math

import pytest

from conftest import preset_config
from zoo3d.config import StageConfig
from zoo3d_pigan.config import PiGanConfig
from zoo3d_pigan.model import PiGanModel


#: curriculums.py, the keys the recipe reads: {step: (batch_size, num_steps, img_size, batch_split, gen_lr,
#: disc_lr)} up to the last (empty) key, then the keys shared by every step
CELEBA = {"steps": {0: (28 * 2, 12, 64, 2, 6e-5, 2e-4), int(200e3): None},
          "fov": 12, "ray_start": 0.88, "ray_end": 1.12, "fade_steps": 10000, "h_stddev": 0.3, "v_stddev": 0.155,
          "h_mean": math.pi * 0.5, "v_mean": math.pi * 0.5, "sample_dist": "gaussian", "topk_interval": 2000,
          "topk_v": 0.6, "betas": (0, 0.9), "r1_lambda": 0.2, "latent_dim": 256, "grad_clip": 10,
          "model": "SPATIALSIRENBASELINE", "clamp_mode": "relu", "hierarchical_sample": True, "pos_lambda": 15}
CARLA = {"steps": {0: (30, 48, 32, 1, 4e-5, 4e-4), int(10e3): (14, 48, 64, 2, 2e-5, 2e-4),
                   int(55e3): (10, 48, 128, 5, 10e-6, 10e-5), int(200e3): None},
         "fov": 30, "ray_start": 0.7, "ray_end": 1.3, "fade_steps": 10000, "sample_dist": "spherical_uniform",
         "h_stddev": math.pi, "v_stddev": math.pi / 4 * 85 / 90, "h_mean": math.pi * 0.5,
         "v_mean": math.pi / 4 * 85 / 90, "topk_interval": 1000, "topk_v": 1, "betas": (0, 0.9), "r1_lambda": 10,
         "latent_dim": 256, "grad_clip": 1, "model": "TALLSIREN", "white_back": True, "clamp_mode": "relu",
         "hierarchical_sample": True, "pos_lambda": 0}
CATS = {"steps": {0: (28, 24, 64, 4, 6e-5, 2e-4), int(200e3): None},
        "fov": 12, "ray_start": 0.8, "ray_end": 1.2, "fade_steps": 10000, "h_stddev": 0.5, "v_stddev": 0.4,
        "h_mean": math.pi * 0.5, "v_mean": math.pi * 0.5, "sample_dist": "uniform", "topk_interval": 2000,
        "topk_v": 0.6, "betas": (0, 0.9), "r1_lambda": 0.2, "latent_dim": 256, "grad_clip": 10,
        "model": "SPATIALSIRENBASELINE", "clamp_mode": "relu", "hierarchical_sample": True, "pos_lambda": 0}


def _stages_of(curriculum: dict) -> list[dict]:
    """The curriculum's resolutions as train.py runs them: each from its key to the next."""
    keys = sorted(curriculum["steps"])
    out = []
    for start, end in zip(keys, keys[1:]):
        batch, _, size, split, gen_lr, disc_lr = curriculum["steps"][start]
        out.append({"name": f"res{size}", "resolution": size, "steps": end - start, "batch_size": batch,
                    "lr": {"generator": gen_lr, "discriminator": disc_lr}, "betas": tuple(curriculum["betas"]),
                    "clip": {"generator": curriculum["grad_clip"] / split, "discriminator": curriculum["grad_clip"]},
                    "topk_group": batch // split, "num_steps": curriculum["steps"][start][1]})
    return out


@pytest.mark.parametrize("preset, curriculum", [(None, CELEBA), ("celeba", CELEBA), ("cats", CATS),
                                                ("carla", CARLA)], ids=["defaults", "celeba", "cats", "carla"])
def test_the_recipe_is_the_authors_curriculum_stage_by_stage(preset, curriculum):
    cfg = preset_config("pigan", preset)
    want = _stages_of(curriculum)
    stages = PiGanModel().stages(cfg)
    assert [(s.name, s.resolution, s.steps, s.batch_size) for s in stages] == \
           [(w["name"], w["resolution"], w["steps"], w["batch_size"]) for w in want]
    for stage, w in zip(stages, want):
        for role in ("generator", "discriminator"):
            opt = stage.optimizers[role]
            assert opt.lr == pytest.approx(w["lr"][role], rel=1e-12), (stage.name, role)
            assert tuple(opt.betas) == w["betas"], (stage.name, role)
            assert opt.grad_clip == pytest.approx(w["clip"][role], rel=1e-12), (stage.name, role)
        assert {p.name for p in stage.phases} == {"discriminator", "generator"}  # R1 in the D step, as upstream
        for phase in stage.phases:
            loss = phase.loss.keywords["loss"]
            assert (loss.r1_gamma, loss.r1_every, loss.lambda_pos, loss.lambda_realpos) == \
                   (curriculum["r1_lambda"], None, curriculum["pos_lambda"], 0.0)  # no pose loss on reals
            assert (loss.topk_interval, loss.topk_min) == (curriculum["topk_interval"], curriculum["topk_v"])
            if curriculum["topk_v"] < 1:  # (with every fake kept, the group does not matter)
                assert loss.topk_group == w["topk_group"]
            assert phase.loss.keywords["parts"].fakes.keywords["noise_steps"] == 5000  # train.py line 202
    # every added resolution fades in over fade_steps; the first is not (the model card's notes)
    assert [s.phases[0].loss.keywords["parts"].discriminate.keywords["fade_steps"] for s in stages] == \
           [None] + [curriculum["fade_steps"]] * (len(want) - 1)
    assert cfg.discriminator.progressive == (len(want) > 1)
    r = cfg.generator.rendering
    assert {w["num_steps"] for w in want} == {r.num_steps}
    assert (r.near, r.far, r.hierarchical, r.density_activation, r.white_background) == (
        curriculum["ray_start"], curriculum["ray_end"], curriculum["hierarchical_sample"], curriculum["clamp_mode"],
        curriculum.get("white_back", False))
    assert cfg.generator.z_dim == curriculum["latent_dim"]
    # SPATIALSIRENBASELINE warps points by UniformBoxWarp(0.24) (siren.py line 295); TALLSIREN does not
    assert cfg.generator.box_size == {"SPATIALSIRENBASELINE": 0.24, "TALLSIREN": 2.0}[curriculum["model"]]
    # sample_camera_positions (volumetric_rendering.py line 128): yaw theta and polar angle phi about the frontal
    # pi/2 (zoo3d's yaw and pitch 0), radius 1; spherical_uniform draws v uniform in (v_mean -+ v_stddev) / pi and
    # takes phi = arccos(1 - 2 v), where zoo3d draws v = (pi/2 - pitch) / pi with pitch uniform in mean -+ std
    cam = cfg.camera
    assert (cam.distribution, cam.fov, cam.radius) == (curriculum["sample_dist"], curriculum["fov"], 1.0)
    assert cam.yaw_mean == curriculum["h_mean"] - math.pi / 2
    assert cam.yaw_std == pytest.approx(curriculum["h_stddev"], abs=1e-5)
    if curriculum["sample_dist"] == "spherical_uniform":
        v = sorted((math.pi / 2 - cam.pitch_mean + sign * cam.pitch_std) / math.pi for sign in (-1, 1))
        assert v == pytest.approx([(curriculum["v_mean"] + sign * curriculum["v_stddev"]) / math.pi
                                   for sign in (-1, 1)], abs=1e-4)  # the preset writes four decimals
    else:
        assert (cam.pitch_mean, cam.pitch_std) == (curriculum["v_mean"] - math.pi / 2, curriculum["v_stddev"])


#: the old shape's defaults (PiGanTrainingConfig, PiGanStageConfig and PiGanRenderingConfig before 6d12251)
OLD_TRAINING = {"progressive_discriminator": False, "fade_steps": 10000, "betas": (0.0, 0.9), "r1": 0.2,
                "pose_lambda": 15.0, "grad_clip": 10.0, "topk_interval": 2000, "topk_min": 0.6,
                "discriminator_max_channels": 400, "discriminator_channel_scale": 1.0}
OLD_ENTRY = {"resolution": 64, "steps": 200000, "batch_size": 56, "generator_lr": 6e-5, "discriminator_lr": 2e-4}


def _upgraded(stored: dict) -> PiGanConfig:
    return PiGanConfig.model_validate(PiGanConfig.upgrade_stored(stored))


@pytest.mark.parametrize("pigan", [{}, {"network": None, "training": None}, {"rendering": {"num_steps": 4}}],
                         ids=["empty", "null-sections", "rendering-only"])
def test_an_old_config_that_left_its_sections_to_their_defaults_gets_the_defaults_of_then(pigan):
    cfg = _upgraded({"model": "pigan", "train": {"seed": 3}, "pigan": pigan, "stages": []})
    e, t = OLD_ENTRY, OLD_TRAINING
    assert cfg.stages == [StageConfig(name=f"res{e['resolution']}", resolution=e["resolution"], steps=e["steps"],
                                      batch_size=e["batch_size"],
                                      lr={"generator": e["generator_lr"], "discriminator": e["discriminator_lr"]},
                                      betas=t["betas"], grad_clip=t["grad_clip"])]
    d = cfg.discriminator
    assert (d.progressive, d.fade_steps, d.max_channels, d.channel_scale) == (
        t["progressive_discriminator"], t["fade_steps"], t["discriminator_max_channels"],
        t["discriminator_channel_scale"])
    loss = cfg.loss
    assert (loss.r1_gamma, loss.lambda_pos, loss.topk_interval, loss.topk_min, loss.topk_group) == (
        t["r1"], t["pose_lambda"], t["topk_interval"], t["topk_min"], None)  # top-k over the whole batch then
    assert cfg.generator.rendering.eval_last_back is False
    assert cfg.generator.rendering.num_steps == pigan.get("rendering", {}).get("num_steps", 12)
    assert cfg.train.seed == 3


def test_an_old_curriculum_entry_takes_the_old_entry_defaults_and_the_old_training_keys():
    cfg = _upgraded({"model": "pigan", "pigan": {"training": {
        "curriculum": [{"resolution": 16, "steps": 5}, {"resolution": 32, "generator_lr": 1e-3}],
        "progressive_discriminator": True, "betas": [0.5, 0.99], "grad_clip": 2.0}}})
    assert [(s.name, s.resolution, s.steps, s.batch_size, s.lr, s.betas, s.grad_clip) for s in cfg.stages] == [
        ("res16", 16, 5, OLD_ENTRY["batch_size"],
         {"generator": OLD_ENTRY["generator_lr"], "discriminator": OLD_ENTRY["discriminator_lr"]}, (0.5, 0.99), 2.0),
        ("res32", 32, OLD_ENTRY["steps"], OLD_ENTRY["batch_size"],
         {"generator": 1e-3, "discriminator": OLD_ENTRY["discriminator_lr"]}, (0.5, 0.99), 2.0)]


def test_only_the_old_shape_is_rewritten_and_what_it_never_had_is_left_for_validation_to_name():
    # today's shape with its stages left to the default: nothing to move (no ``pigan`` section)
    cfg = _upgraded({"model": "pigan", "train": {"seed": 3}})
    assert cfg.stages == PiGanConfig().stages and cfg.train.seed == 3
    # a ``pigan`` section next to stages of today's shape is not read as the old shape: validation names it
    today = PiGanConfig().model_dump(mode="json")
    mixed = {**today, "pigan": {"network": {"z_dim": 8}}}
    out = PiGanConfig.upgrade_stored(mixed)
    assert out["stages"] == today["stages"] and out["pigan"] == {"network": {"z_dim": 8}}
    # keys the old shape never had stay under pigan.training; the keys it had are moved out
    out = PiGanConfig.upgrade_stored({"model": "pigan", "pigan": {"training": {"bogus": 1, "r1": 2.0}}})
    assert out["pigan"] == {"training": {"bogus": 1}} and out["loss"]["r1_gamma"] == 2.0
