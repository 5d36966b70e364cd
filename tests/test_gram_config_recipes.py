"""GRAM's paper presets against the authors' code written out, and how a stored config's ``optim`` section reaches
the upgraded stage.

Each preset is loaded through the public config loader, stored as a checkpoint stores it (JSON) and read back
as a resume reads it (``upgrade_stored``), and the recipe ``GramModel().stages`` builds from it is compared with
microsoft/GRAM's ``configs.py`` dictionaries, its README's iteration counts and batch sizes, and what its
training loop does with them.
"""

from __future__ import annotations

import json
import math

import pytest

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec
from zoo3d_gram.config import GramConfig
from zoo3d_gram.model import GramModel

SPEC = get_model_spec("gram")
GPUS = 8  # GRAM README.md:108-111: DDP on 8 V100s; the per-GPU batch below is configs.py's global.batch_size

# microsoft/GRAM configs.py, written out: FFHQ_default (lines 3-78), CATS_default (80-155), CARLA_default
# (157-235); "iterations" is README.md:36-38 (= 113-115), which also states the total batch.
UPSTREAM = {
    "ffhq256": dict(img_size=256, batch_per_gpu=4, iterations=150_000, total_batch=32, gen_lr=2e-5, disc_lr=2e-4,
                    sampling_network_lr=None, betas=(0.0, 0.9), grad_clip=1.0, batch_split=4,
                    real_pos_lambda=15.0, r1_lambda=1.0, pos_lambda=15.0, z_dim=256, hidden_dim=256, normalize=None,
                    hidden_dim_sample=128, layer_num_sample=3, center=(0.0, 0.0, -1.5), num_samples=64,
                    num_manifolds=24, levels_start=23.0, levels_end=8.0, delta_alpha=None, white_back=False,
                    background=True, h_stddev=0.3, v_stddev=0.155, h_mean=math.pi * 0.5, v_mean=math.pi * 0.5,
                    sample_dist="gaussian", fov=12.0, ray_start=0.88, ray_end=1.12),
    "cats256": dict(img_size=256, batch_per_gpu=2, iterations=80_000, total_batch=16, gen_lr=2e-5, disc_lr=2e-4,
                    sampling_network_lr=None, betas=(0.0, 0.9), grad_clip=1.0, batch_split=2,
                    real_pos_lambda=30.0, r1_lambda=1.0, pos_lambda=15.0, z_dim=256, hidden_dim=256, normalize=None,
                    hidden_dim_sample=64, layer_num_sample=3, center=(0.0, 0.0, -1.5), num_samples=64,
                    num_manifolds=24, levels_start=23.0, levels_end=8.0, delta_alpha=None, white_back=False,
                    background=True, h_stddev=0.3, v_stddev=0.155, h_mean=math.pi * 0.5, v_mean=math.pi * 0.5,
                    sample_dist="gaussian", fov=12.0, ray_start=0.88, ray_end=1.12),
    "carla": dict(img_size=128, batch_per_gpu=4, iterations=70_000, total_batch=32, gen_lr=2e-5, disc_lr=2e-4,
                  sampling_network_lr=2e-6, betas=(0.0, 0.9), grad_clip=0.3, batch_split=4,
                  real_pos_lambda=15.0, r1_lambda=1.0, pos_lambda=15.0, z_dim=256, hidden_dim=256, normalize=2.0,
                  hidden_dim_sample=256, layer_num_sample=3, center=(0.0, 0.0, 0.0), num_samples=64,
                  num_manifolds=48, levels_start=35.0, levels_end=5.0, delta_alpha=0.02, white_back=True,
                  background=False, h_stddev=math.pi, v_stddev=math.pi * (42.5 / 180), h_mean=math.pi * 0.5,
                  v_mean=math.pi * (42.5 / 180), sample_dist="spherical_uniform", fov=30.0, ray_start=0.7,
                  ray_end=1.3),
}
# What GRAM's code does with them when a config leaves them out:
# - manifold_renderer.py:9,129: delta_alpha=0.04; gram.py:188,293: normalize=0.24, the sample network's own
#   UniformBoxWarp(0.24) (gram.py:126), which zoo3d's radiance box_size None reuses.
# - manifold_renderer.py:138 with background=True: the last of num_manifolds is the background plane.
# - training_loop.py:42: the EMA is torch_ema's ExponentialMovingAverage(decay=0.999) (its num_updates ramp on).
# - processes.py:86-94: the generator's loss is backpropagated once per split and summed, then :124 clips the
#   sum at grad_clip, i.e. the batch mean at grad_clip / batch_split; the discriminator's one loss over the whole
#   batch (:75) is clipped at grad_clip (:77).
DEFAULT_DELTA_ALPHA, DEFAULT_NORMALIZE, EMA_DECAY = 0.04, 0.24, 0.999


def _resumed(preset: str) -> GramConfig:
    """The preset as a run that stored it in a checkpoint (JSON) reads it back on resume."""
    stored = json.loads(json.dumps(load_run_config(GramConfig, SPEC.name, SPEC.presets_dir, preset)
                                   .model_dump(mode="json")))
    return GramConfig.model_validate(GramConfig.upgrade_stored(stored))


@pytest.mark.parametrize("preset", sorted(UPSTREAM))
def test_a_paper_preset_stored_and_resumed_trains_the_authors_recipe(preset):
    up = UPSTREAM[preset]
    cfg = _resumed(preset)
    (stage,) = GramModel().stages(cfg)

    assert up["batch_per_gpu"] * GPUS == up["total_batch"]  # the README's batch is 8 GPUs' worth
    assert (stage.steps, stage.batch_size, stage.resolution) == (up["iterations"], up["total_batch"], up["img_size"])
    g, d = stage.optimizers["generator"], stage.optimizers["discriminator"]
    assert (g.lr, d.lr) == (up["gen_lr"], up["disc_lr"])
    assert g.betas == d.betas == up["betas"]
    assert g.grad_clip == pytest.approx(up["grad_clip"] / up["batch_split"], rel=1e-12)
    assert d.grad_clip == up["grad_clip"]
    manifold_lr = {} if up["sampling_network_lr"] is None else {"generator.manifold": up["sampling_network_lr"]}
    assert g.module_lr == manifold_lr and d.module_lr == {}

    loss = stage.phases[0].loss.keywords["loss"]
    assert (loss.r1_gamma, loss.lambda_pos, loss.lambda_realpos, loss.r1_every) == (
        up["r1_lambda"], up["pos_lambda"], up["real_pos_lambda"], None)  # R1 every D step (r1_interval=1)
    assert (cfg.train.ema_decay, cfg.train.ema_warmup) == (EMA_DECAY, True)

    cam = cfg.camera
    assert cam.distribution == up["sample_dist"] and (cam.fov, cam.radius) == (up["fov"], 1.0)
    # GRAM's polar angle phi (from +y) and azimuth theta are zoo3d's pitch = pi/2 - phi and yaw = theta - pi/2
    assert (cam.yaw_mean, cam.yaw_std) == pytest.approx((up["h_mean"] - math.pi / 2, up["h_stddev"]), abs=1e-12)
    assert (cam.pitch_mean, cam.pitch_std) == pytest.approx((math.pi / 2 - up["v_mean"], up["v_stddev"]), abs=1e-12)

    gen = cfg.generator
    m, r, render = gen.manifold, gen.radiance, gen.render
    assert gen.resolution == up["img_size"]
    assert (m.hidden, m.layers, m.center, m.init_radius) == (up["hidden_dim_sample"], up["layer_num_sample"],
                                                             up["center"], 0.0)
    assert m.num_levels == up["num_manifolds"] - (1 if up["background"] else 0)
    assert (m.background_z is not None) == up["background"] and render.white_background == up["white_back"]
    assert (m.level_start, m.level_end) == (up["levels_start"], up["levels_end"])
    assert (r.z_dim, r.hidden, r.feature_dim) == (up["z_dim"], up["hidden_dim"], 0)
    assert r.delta_alpha == (up["delta_alpha"] or DEFAULT_DELTA_ALPHA)
    assert (r.box_size or m.box_size) == (up["normalize"] or DEFAULT_NORMALIZE) and m.box_size == 0.24
    assert (render.num_samples, render.near, render.far) == (up["num_samples"], up["ray_start"], up["ray_end"])


def test_a_stored_optim_sections_betas_reach_the_upgraded_stage():
    """Each key of an old ``optim`` section lands in the one stage, by hand: g_lr / d_lr -> lr by role, betas and
    grad_clip as they are; ``train.steps`` / ``train.batch_size`` -> the stage's steps and batch."""
    stored = {"model": "gram", "train": {"steps": 12, "batch_size": 3, "seed": 5},
              "optim": {"g_lr": 1e-4, "d_lr": 3e-4, "betas": [0.5, 0.99], "grad_clip": 0.7}}
    upgraded = GramConfig.upgrade_stored(stored)
    assert "optim" not in upgraded and upgraded["train"] == {"seed": 5}
    (stage,) = GramConfig.model_validate(upgraded).stages
    assert (stage.name, stage.steps, stage.batch_size, stage.lr, stage.betas, stage.grad_clip) == (
        "gram", 12, 3, {"generator": 1e-4, "discriminator": 3e-4}, (0.5, 0.99), 0.7)
    assert stored["optim"]["betas"] == [0.5, 0.99] and "stages" not in stored  # the stored dict is not changed


def test_a_config_of_todays_shape_is_read_as_it_is():
    """Only a config without ``stages`` is of the older shape: one with them is read as it is (its ``train``
    losing only the keys that moved into the stages)."""
    stage = {"name": "gram", "steps": 7, "batch_size": 3, "lr": {"generator": 1e-3, "discriminator": 2e-3},
             "betas": [0.5, 0.99], "grad_clip": 0.5}
    data = {"model": "gram", "train": {"seed": 2}, "stages": [stage]}
    assert GramConfig.upgrade_stored(data) == data
    cfg = GramConfig.model_validate(GramConfig.upgrade_stored({**data, "train": {"seed": 2, "steps": 99}}))
    assert (cfg.stage("gram").steps, cfg.stage("gram").lr["generator"], cfg.train.seed) == (7, 1e-3, 2)
