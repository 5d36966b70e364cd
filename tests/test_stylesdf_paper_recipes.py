"""StyleSDF's recipes (the defaults and each paper preset) against the authors' training, written out from
royorel/StyleSDF: ``options.py``'s defaults, ``scripts/train_*.sh``'s commands, ``train_volume_renderer.py`` (the
sphere fit and the volume renderer) and ``train_full_pipeline.py`` (the decoder); and stored configs around the
old ``stylesdf:`` shape."""

from __future__ import annotations

import copy

from pydantic import ValidationError
import pytest
import yaml

from zoo3d_stylesdf.config import StyleSDFConfig
from zoo3d_stylesdf.model import StyleSDFModel

from conftest import FIXTURES, preset_config

OLD_RUN = FIXTURES / "format1" / "stylesdf" / "run" / "config.yaml"


def stylesdf_training(size: int, r1: float, azim: float) -> dict:
    """What upstream's two trainings run with, for ``--size SIZE --r1 R1 --azim AZIM`` and the rest at
    ``options.py``'s defaults, by stage: (steps, batch, {role: (lr, betas)}, R1 gamma, R1 interval, view weight)."""
    vol_betas = (0.0, 0.9)  # train_volume_renderer.py L308-309: one Adam each, betas (0, 0.9)
    d_every, g_every = 16, 4  # options.py L29-30 --d_reg_every, --g_reg_every
    lr = 0.002  # options.py L33 --lr

    def lazy(k):  # train_full_pipeline.py L299-314: lr * k/(k+1), betas ** (k/(k+1))
        r = k / (k + 1)
        return lr * r, (0.0 ** r, 0.99 ** r)

    return {
        # train_volume_renderer.py L61 range(10000), L68 batch=3, L308 g_optim (the sphere fit's, kept on)
        "sphere_init": (10000, 3, {"generator": (2e-5, vol_betas)}, None, None, None),
        # the paper's 200k iterations (L287 iter 200001: i = 0..200000, the last checkpoint iteration 200000's);
        # batch 12 on each of 2 GPUs (scripts/train_*_vol_renderer.sh); R1 (options.py L34) in every D step
        # (L132-133); --view_lambda 15 (options.py L35) for D and G (L127, L165)
        "volume_renderer": (200000, 12 * 2, {"generator": (2e-5, vol_betas), "discriminator": (2e-4, vol_betas)},
                            10.0, None, 15.0),
        # options.py L25 --iter 300000; batch 8 on each of 4 GPUs (scripts/train_*_full_pipeline_*.sh); lazy R1
        # (train_full_pipeline.py L73, L102-104); D loss without a viewpoint term (L108)
        "decoder": (300000, 8 * 4, {"generator": lazy(g_every), "discriminator": lazy(d_every)}, r1, d_every, 0.0),
        "geometry": (0.1, 0.05, 100.0),  # options.py L36-38 eikonal, min_surf lambda and beta
        "sphere_radius": (1.12 - 0.88) / 4,  # volume_renderer.py L344 (far - near) / 4, model.py L715's near, far
        "resolutions": (64, size),  # options.py L62 --renderer_spatial_output_dim; --size
        "camera": (azim, 0.15, 2 * 6.0),  # options.py L68-70 --azim, --elev, --fov (a half angle)
        "ema_decay": 0.5 ** (32 / (10 * 1000)),  # train_volume_renderer.py L52, train_full_pipeline.py L54
    }


# scripts/train_ffhq_full_pipeline_1024x1024.sh (--size 1024); scripts/train_afhq_*.sh (--azim 0.15, --r1 50,
# --size 512); the defaults are the FFHQ ones (the module doc)
RUNS = {None: dict(size=1024, r1=10.0, azim=0.3), "ffhq1024": dict(size=1024, r1=10.0, azim=0.3),
        "afhq512": dict(size=512, r1=50.0, azim=0.15)}


def _adversarial(stage):
    return next(p for p in stage.phases if p.name == "discriminator").loss.keywords["loss"]


@pytest.mark.parametrize("preset", list(RUNS), ids=[p or "defaults" for p in RUNS])
def test_each_recipe_trains_each_stage_as_upstreams_scripts_do(preset):
    cfg, want = preset_config("stylesdf", preset), stylesdf_training(**RUNS[preset])
    stages = StyleSDFModel().stages(cfg)
    assert [s.name for s in stages] == ["sphere_init", "volume_renderer", "decoder"]
    for stage in stages:
        steps, batch, optimizers, gamma, every, view = want[stage.name]
        assert (stage.steps, stage.batch_size) == (steps, batch)
        assert sorted(stage.optimizers) == sorted(optimizers)
        for role, (lr, betas) in optimizers.items():
            assert stage.optimizers[role].lr == pytest.approx(lr, rel=1e-12)
            assert stage.optimizers[role].betas == pytest.approx(betas, rel=1e-12)
        if gamma is not None:
            loss = _adversarial(stage)
            assert (loss.r1_gamma, loss.r1_every, loss.lambda_pos) == (gamma, every, view)
    init, vol, dec = stages
    assert init.phases[0].loss.keywords["radius"] == pytest.approx(want["sphere_radius"], rel=1e-12)
    assert not init.ema and vol.ema and dec.ema  # upstream's g_ema is copied after the fit (L80), then averaged
    g_step = next(p for p in vol.phases if p.name == "generator")
    terms = g_step.loss.keywords["parts"].generator_terms.keywords
    assert (terms["eikonal"], terms["min_surface"], terms["beta"]) == want["geometry"]
    assert (vol.resolution, dec.resolution) == want["resolutions"]
    camera = cfg.camera
    assert (camera.yaw_std, camera.pitch_std, camera.fov, camera.distribution) == (*want["camera"], "gaussian")
    if preset is not None:  # the defaults keep the shared train section's EMA
        assert cfg.train.ema_decay == pytest.approx(want["ema_decay"], abs=5e-6)  # written to 5 places


def _upgraded(stored: dict) -> StyleSDFConfig:
    return StyleSDFConfig.model_validate(StyleSDFConfig.upgrade_stored(stored))


def test_a_stored_config_with_neither_the_old_section_nor_stages_takes_todays_defaults():
    stored = {"model": "stylesdf", "train": {"seed": 5}, "loss": {"r1_gamma": 3.0}}
    assert StyleSDFConfig.upgrade_stored(copy.deepcopy(stored)) == stored  # nothing to move
    cfg = _upgraded(stored)
    assert cfg.stages == StyleSDFConfig().stages and (cfg.train.seed, cfg.loss.r1_gamma) == (5, 3.0)


def test_a_config_that_has_stages_is_todays_shape_even_beside_a_stray_old_section():
    # the stages it gives stay; the stray section is then refused as the unknown key it is, not read as the recipe
    stages = StyleSDFConfig().model_dump(mode="json")["stages"]  # the recipe's three, as a stored run has them
    stages[-1]["steps"] = 9
    stored = {"model": "stylesdf", "stylesdf": {"schedule": {"decoder_steps": 7}}, "stages": stages}
    assert StyleSDFConfig.upgrade_stored(copy.deepcopy(stored)) == stored
    with pytest.raises(ValidationError, match=r"stylesdf\n  Extra inputs are not permitted"):
        _upgraded(stored)


def test_the_old_sphere_radius_moves_to_the_generator():
    old = yaml.safe_load(OLD_RUN.read_text())
    old["stylesdf"]["sphere_radius"] = 0.045  # not the default 0.06 the fixture holds
    assert _upgraded(old).generator.sphere_radius == 0.045
    del old["stylesdf"]["sphere_radius"]
    assert _upgraded(old).generator.sphere_radius == StyleSDFConfig().generator.sphere_radius
