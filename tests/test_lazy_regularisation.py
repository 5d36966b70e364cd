"""Lazy regularisation (StyleGAN2): a phase every k steps, its loss x k, and its optimiser's lr x c, betas ** c
with c = k / (k + 1). Checked on every built-in recipe that has a lazy phase, and on the Adam the engine builds."""

from __future__ import annotations

import pytest
import torch

from zoo3d.config import load_run_config
from zoo3d.plugins import get_model_spec
from zoo3d.train.engine import Trainer


def _recipe(name: str, preset: str, overrides=()):
    spec = get_model_spec(name)
    plugin = spec.load()
    cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset, None, list(overrides))
    return plugin, cfg, plugin.stages(cfg)


# (model, preset, stage, optimiser, base lr, base betas, interval): the paper-scale values
LAZY = [
    ("triplane", "ffhq512", "gan", "discriminator", 0.002, (0.0, 0.99), 16),
    ("triplane", "ffhq512", "gan", "generator", 0.0025, (0.0, 0.99), 4),
    ("stylesdf", "ffhq1024", "decoder", "discriminator", 0.002, (0.0, 0.99), 16),
]


@pytest.mark.parametrize("model,preset,stage_name,opt,lr,betas,k", LAZY,
                         ids=[f"{m}-{o}" for m, _, _, o, *_ in LAZY])
def test_lazy_phases_run_every_k_steps_with_the_stylegan2_optimiser_correction(model, preset, stage_name, opt,
                                                                                lr, betas, k):
    _, _, stages = _recipe(model, preset)
    stage = next(s for s in stages if s.name == stage_name)
    lazy = [p for p in stage.phases if p.optimizer == opt and p.every > 1]
    assert [p.every for p in lazy] == [k]
    c = k / (k + 1)
    spec = stage.optimizers[opt]
    assert spec.lr == pytest.approx(lr * c, rel=1e-12)
    assert tuple(spec.betas) == pytest.approx((betas[0] ** c, betas[1] ** c), rel=1e-12)


def test_optimisers_without_a_lazy_phase_keep_their_configured_settings():
    # the tiny preset's decoder G (the paper presets take upstream's path-length correction: test_stylesdf_*)
    _, cfg, stages = _recipe("stylesdf", "tiny")
    decoder = next(s for s in stages if s.name == "decoder")
    assert decoder.optimizers["generator"].lr == cfg.stage("decoder").lr["generator"]
    assert tuple(decoder.optimizers["generator"].betas) == tuple(cfg.stage("decoder").betas)


def test_the_engine_builds_adam_with_the_recipes_corrected_settings(tmp_path, single_thread):
    from test_resume_every_model import CASES, ENGINE

    spec = get_model_spec("triplane")
    plugin = spec.load()
    overrides = ENGINE + CASES["triplane"][0] + ["stages.finetune.steps=0", "stages.gan.steps=1", "loss.r1_every=16",
                                                 "loss.density_reg_every=4"]
    cfg = load_run_config(plugin.config_class, spec.name, spec.presets_dir, "tiny", None, overrides)
    trainer = Trainer(plugin, cfg, tmp_path, model_name="triplane", device="cpu", progress=False)
    trainer.run()
    gan = cfg.stage("gan")
    for name, k in (("discriminator", 16), ("generator", 4)):
        group = trainer.optimizers[name].param_groups[0]
        c = k / (k + 1)
        assert group["lr"] == pytest.approx(gan.lr[name] * c, rel=1e-12)
        assert group["betas"] == pytest.approx(tuple(b ** c for b in gan.betas), rel=1e-12)


def test_a_regulariser_switched_off_leaves_no_lazy_phase_and_no_correction():
    """Tri-plane with density_reg = 0 and r1_gamma = 0: no density phase, and both Adams keep their settings."""
    _, cfg, stages = _recipe("triplane", "ffhq512", ["loss.density_reg=0", "loss.r1_gamma=0"])
    gan = next(s for s in stages if s.name == "gan")
    assert "density" not in [p.name for p in gan.phases]
    for opt in ("generator", "discriminator"):
        assert gan.optimizers[opt].lr == cfg.stage("gan").lr[opt]
        assert tuple(gan.optimizers[opt].betas) == tuple(cfg.stage("gan").betas)


@pytest.mark.parametrize("model,overrides", [
    ("gram", ["loss.r1_gamma=0", "loss.r1_every=4"]),
    ("pigan", ["loss.r1_gamma=0", "loss.r1_every=4"]),
    ("stylesdf", ["loss.r1_gamma=0", "loss.r1_every=4",
                  "stages.decoder.loss.r1_gamma=0", "stages.decoder.loss.r1_every=4"]),
    ("triplane", ["loss.r1_gamma=0", "loss.r1_every=4"]),
    ("gram_inverter", ["loss.r1_gamma=0", "loss.r1_every=4"]),
    ("gram_hd", ["stages.gram_hd.stage1.loss.r1_gamma=0", "stages.gram_hd.stage1.loss.r1_every=4",
                 "stages.gram_hd.stage2.loss.r1_gamma=0", "stages.gram_hd.stage2.loss.r1_every=4"]),
])
def test_no_r1_means_no_r1_phase_and_the_discriminators_adam_as_configured_whatever_r1_every_says(model, overrides):
    _, cfg, stages = _recipe(model, "tiny", overrides)
    checked = 0
    for stage in stages:
        spec = stage.optimizers.get("discriminator")
        if spec is None:
            continue
        assert "r1" not in [p.name for p in stage.phases], stage.name
        assert spec.lr == cfg.stage(stage.name).lr["discriminator"], stage.name
        assert tuple(spec.betas) == tuple(cfg.stage(stage.name).betas), stage.name
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("model", ["gram", "pigan", "gram_inverter"])
def test_a_lazy_r1_set_on_the_command_line_gets_its_phase_and_the_discriminators_correction(model):
    _, cfg, stages = _recipe(model, "tiny", ["loss.r1_every=4"])
    stage = next(s for s in stages if "discriminator" in s.optimizers)
    assert [p.every for p in stage.phases if p.name == "r1"] == [4]
    c = 4 / 5
    spec, configured = stage.optimizers["discriminator"], cfg.stage(stage.name)
    assert spec.lr == pytest.approx(configured.lr["discriminator"] * c, rel=1e-12)
    assert tuple(spec.betas) == pytest.approx(tuple(b ** c for b in configured.betas), rel=1e-12)
