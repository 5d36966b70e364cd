"""StyleSDF's config: the stages the recipe reads, per-stage loss overrides, what it refuses, and stored configs of
the shape before ``stages`` (everything under ``stylesdf:``) read as the same settings."""

from __future__ import annotations

import copy

from pathlib import Path

import pytest
import yaml

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
import zoo3d_stylesdf
from zoo3d_stylesdf.config import StyleSDFConfig
from zoo3d_stylesdf.model import StyleSDFModel

from conftest import FIXTURES

PRESETS = Path(zoo3d_stylesdf.__file__).parent / "presets"  # shipped in the package, wherever it is laid out
OLD_RUN = FIXTURES / "format1" / "stylesdf" / "run" / "config.yaml"

# The settings of the stored old-shape run (tests/fixtures/format1/stylesdf) under today's names, over `tiny`
SAME_RUN_TODAY = [
    "data.spec=synthetic:heads?count=4", "train.log_every=1", "train.checkpoint_every=3",
    "train.keep_checkpoints=50", "train.sample_seeds=[0]", "train.sample_truncation=0.7",  # the tiny preset's then
    "generator.renderer.z_dim=8", "generator.renderer.depth=2", "generator.renderer.width=8",
    "generator.renderer.resolution=8", "generator.renderer.num_samples=4", "generator.decoder.output_resolution=16",
    "generator.decoder.w_dim=8", "generator.decoder.max_channels=8", "discriminator.channel_scale=0.004",
    "discriminator.decoder_channel_base=128", "discriminator.decoder_max_channels=8",
    "stages.sphere_init.steps=1", "stages.sphere_init.batch_size=2",
    "stages.volume_renderer.steps=1", "stages.volume_renderer.batch_size=2",
    "stages.decoder.steps=3", "stages.decoder.batch_size=2", "stages.decoder.loss.r1_every=2",
    # the tiny preset of then kept the upstream volume-renderer learning rates
    "stages.volume_renderer.lr={generator: 2.0e-5, discriminator: 2.0e-4}",
]


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif k == "stages":
            for s in v:
                out.update(_flat({key: val for key, val in s.items() if key != "name"}, f"stages.{s['name']}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_a_stored_config_of_the_old_shape_reads_as_the_same_settings_key_by_key():
    old = yaml.safe_load(OLD_RUN.read_text())
    assert "stylesdf" in old and "stages" not in old
    upgraded = StyleSDFConfig.model_validate(StyleSDFConfig.upgrade_stored(copy.deepcopy(old)))
    today = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny", overrides=SAME_RUN_TODAY)
    a, b = _flat(upgraded.model_dump(mode="json")), _flat(today.model_dump(mode="json"))
    assert sorted(a) == sorted(b)
    assert {k: a[k] for k in a if a[k] != b[k]} == {}
    # and the old values are where they now live
    s = old["stylesdf"]
    assert a["loss.r1_gamma"] == s["loss"]["r1"] and a["loss.lambda_pos"] == s["loss"]["view"]
    assert a["stages.decoder.loss.r1_gamma"] == s["loss"]["decoder_r1"]
    assert a["stages.decoder.loss.r1_every"] == s["loss"]["decoder_r1_every"] == 2
    assert a["stages.decoder.lr.discriminator"] == a["stages.decoder.lr.generator"] == s["schedule"]["decoder_lr"]
    assert a["stages.sphere_init.lr.generator"] == s["schedule"]["sphere_init_lr"] == 5e-4
    assert a["generator.sphere_radius"] == s["sphere_radius"]


# every old key of the schedule and loss -> where its value lives now
MOVED = {
    ("loss", "eikonal"): ["loss.eikonal"], ("loss", "min_surface"): ["loss.min_surface"],
    ("loss", "min_surface_beta"): ["loss.min_surface_beta"], ("loss", "view"): ["loss.lambda_pos"],
    ("loss", "r1"): ["loss.r1_gamma"], ("loss", "decoder_r1"): ["stages.decoder.loss.r1_gamma"],
    ("loss", "decoder_r1_every"): ["stages.decoder.loss.r1_every"],
    ("schedule", "sphere_init_steps"): ["stages.sphere_init.steps"],
    ("schedule", "sphere_init_batch"): ["stages.sphere_init.batch_size"],
    ("schedule", "sphere_init_lr"): ["stages.sphere_init.lr.generator"],
    ("schedule", "renderer_steps"): ["stages.volume_renderer.steps"],
    ("schedule", "renderer_batch"): ["stages.volume_renderer.batch_size"],
    ("schedule", "generator_lr"): ["stages.volume_renderer.lr.generator"],
    ("schedule", "discriminator_lr"): ["stages.volume_renderer.lr.discriminator"],
    ("schedule", "decoder_steps"): ["stages.decoder.steps"],
    ("schedule", "decoder_batch"): ["stages.decoder.batch_size"],
    ("schedule", "decoder_lr"): ["stages.decoder.lr.generator", "stages.decoder.lr.discriminator"],
}


@pytest.mark.parametrize("old_key", list(MOVED), ids=[".".join(k) for k in MOVED])
def test_each_old_key_moves_to_its_new_place(old_key):
    old = yaml.safe_load(OLD_RUN.read_text())
    section, key = old_key
    value = 7 if isinstance(old["stylesdf"][section][key], int) else 0.0123  # no other key holds it
    old["stylesdf"][section][key] = value
    new = _flat(StyleSDFConfig.model_validate(StyleSDFConfig.upgrade_stored(old)).model_dump(mode="json"))
    assert sorted(k for k, v in new.items() if v == value) == sorted(MOVED[old_key])


def test_the_old_betas_move_to_their_stages():
    old = yaml.safe_load(OLD_RUN.read_text())
    old["stylesdf"]["schedule"].update(betas=[0.1, 0.8], decoder_betas=[0.2, 0.7])
    new = _flat(StyleSDFConfig.model_validate(StyleSDFConfig.upgrade_stored(old)).model_dump(mode="json"))
    assert new["stages.sphere_init.betas"] == new["stages.volume_renderer.betas"] == [0.1, 0.8]
    assert new["stages.decoder.betas"] == [0.2, 0.7]


def test_a_config_already_in_todays_shape_reads_as_it_is():
    today = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "afhq512")
    stored = today.model_dump(mode="json")
    assert StyleSDFConfig.model_validate(StyleSDFConfig.upgrade_stored(copy.deepcopy(stored))) == today


def test_the_recipe_reads_every_stage_entry():
    cfg = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "ffhq1024", overrides=[
        "stages.sphere_init.steps=5", "stages.sphere_init.batch_size=7", "stages.sphere_init.lr.generator=1e-3",
        "stages.volume_renderer.betas=[0.1,0.8]", "stages.volume_renderer.grad_clip=2.0",
        "stages.decoder.lr.discriminator=0.004"])
    init, vol, dec = StyleSDFModel().stages(cfg)
    assert (init.steps, init.batch_size, init.optimizers["generator"].lr) == (5, 7, 1e-3)
    assert vol.optimizers["generator"].betas == (0.1, 0.8) and vol.optimizers["discriminator"].grad_clip == 2.0
    assert (vol.steps, vol.batch_size, dec.steps, dec.batch_size) == (200000, 24, 300000, 32)
    c = 16 / 17  # the decoder D's lazy R1 correction
    assert dec.optimizers["discriminator"].lr == pytest.approx(0.004 * c)
    assert dec.optimizers["generator"].lr == pytest.approx(0.002 * 4 / 5)  # upstream's, corrected for path length
    tiny = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny")
    tiny_g = StyleSDFModel().stages(tiny)[2].optimizers["generator"]
    assert (tiny_g.lr, tiny_g.betas) == (0.002, (0.0, 0.99))  # the tiny preset keeps the uncorrected settings


def _adversarial(stage):
    return next(p for p in stage.phases if p.name == "discriminator").loss.keywords["loss"]


def test_the_decoder_stage_overrides_the_adversarial_weights_and_the_volume_renderer_keeps_them():
    _, vol, dec = StyleSDFModel().stages(load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "afhq512"))
    v, d = _adversarial(vol), _adversarial(dec)
    assert (v.r1_gamma, v.r1_every, v.lambda_pos, v.pose_loss) == (10.0, None, 15.0, "smooth_l1")
    assert (d.r1_gamma, d.r1_every, d.lambda_pos) == (50.0, 16, 0.0)  # upstream's AFHQ decoder gamma


def test_without_a_decoder_the_recipe_ends_after_the_volume_renderer():
    cfg = load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny", overrides=["generator.decoder.enabled=false"])
    assert [s.name for s in StyleSDFModel().stages(cfg)] == ["sphere_init", "volume_renderer"]
    assert "decoder_discriminator" not in StyleSDFModel().build(cfg)


@pytest.mark.parametrize("override, sentence", [
    ("stages.decoder.loss.lambda_pos=15", "stages.decoder.loss.lambda_pos: the decoder's StyleGAN2 discriminator "
                                          "has no pose head"),
    ("stages.volume_renderer.resolution=32", "stages.volume_renderer.resolution: this model's stages train at "
                                             "generator.renderer.resolution and generator.decoder.output_resolution"),
    ("stages.decoder.lr.encoder=0.1", "stages.decoder.lr: give a learning rate for each of"),
])
def test_what_the_recipe_cannot_honour_is_refused_with_a_sentence(override, sentence):
    with pytest.raises(ConfigError, match=sentence.replace(".", r"\.")):
        load_run_config(StyleSDFConfig, "stylesdf", PRESETS, "tiny", overrides=[override])


@pytest.mark.parametrize("preset, keeps", [("ffhq1024", True), ("afhq512", True), ("tiny", False)])
def test_the_volume_renderer_goes_on_with_the_sphere_fits_optimiser_in_the_paper_presets(preset, keeps):
    """Upstream's train_volume_renderer.py fits the sphere and trains the GAN with one g_optim."""
    init, vol, dec = StyleSDFModel().stages(load_run_config(StyleSDFConfig, "stylesdf", PRESETS, preset))
    assert (init.keep_optimizer_state, vol.keep_optimizer_state, dec.keep_optimizer_state) == (False, keeps, False)

