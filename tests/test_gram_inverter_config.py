"""GRAMInverter's config: the stage recipe of its presets, stage loss overrides, and stored configs of the shape
before ``stages`` (``gan_loss``, ``gan_optim``, ``encoder_stage``, ``detail_stage``, ``train.steps``) read into
exactly the config they meant."""

from __future__ import annotations

import pytest
import yaml

from conftest import FIXTURES
from zoo3d.config import StageConfig, TrainConfig, load_run_config
from zoo3d.plugins import get_model_spec

from zoo3d_gram_inverter.config import DETAIL, EFFICIENT_GRAM, ENCODER, GramInverterConfig, GramInverterLossConfig

OLD_SECTIONS = ("gan_loss", "gan_optim", "encoder_stage", "detail_stage")


def _load(preset: str, *overrides: str) -> GramInverterConfig:
    spec = get_model_spec("gram_inverter")
    return load_run_config(GramInverterConfig, spec.name, spec.presets_dir, preset, None, list(overrides))


def test_a_stored_config_of_the_old_shape_reads_as_the_same_settings_key_by_key():
    old = yaml.safe_load((FIXTURES / "format1" / "gram_inverter" / "run" / "config.yaml").read_text())
    new = GramInverterConfig.model_validate(GramInverterConfig.upgrade_stored(old))
    dumped = new.model_dump(mode="json")
    assert set(dumped) == set(old) - set(OLD_SECTIONS) | {"stages"}
    added = {"discriminator": {"mbstd_group": 0, "architecture": "gram", "channel_base": 32768,  # keys added
                               "channel_max": 512, "mapping_layers": 8, "conditioned": True},  # since, at defaults
             "generator": {"depth_slices": None, "feature_planes": False, "background_from_volume": False,
                           "learn_manifolds": True, "texture_filter": "bilinear"}}
    for section in set(old) - set(OLD_SECTIONS) - {"train", "loss"}:  # the sections that kept their shape
        assert dumped[section] == ({**added[section], **old[section]} if section in added else old[section]), section
    moved = {"steps", "batch_size"}
    assert {k: v for k, v in dumped["train"].items() if k not in moved} == \
           {"micro_batch": None, "ema_warmup": False, "ema_rampup": None,  # added since, at defaults
            **{k: v for k, v in old["train"].items() if k not in moved}}
    assert new.loss == GramInverterLossConfig(**old["gan_loss"], **old["loss"])
    gan, enc, det = old["gan_optim"], old["encoder_stage"], old["detail_stage"]
    assert new.stages == [
        StageConfig(name=EFFICIENT_GRAM, steps=old["train"]["steps"], batch_size=old["train"]["batch_size"],
                    lr={"generator": gan["g_lr"], "discriminator": gan["d_lr"]}, betas=gan["betas"],
                    grad_clip=gan["grad_clip"]),
        StageConfig(name=ENCODER, steps=enc["steps"], batch_size=enc["batch_size"], lr={"encoder": enc["lr"]},
                    betas=enc["betas"]),
        StageConfig(name=DETAIL, steps=det["steps"], batch_size=det["batch_size"], lr={"detail": det["lr"]},
                    betas=det["betas"]),
    ]
    assert (new.stages[0].steps, new.stages[1].lr, new.stages[2].steps) == (1, {"encoder": 1e-3}, 3)  # not defaults


def test_an_old_config_that_left_keys_to_their_defaults_gets_the_old_defaults():
    new = GramInverterConfig.model_validate(GramInverterConfig.upgrade_stored(
        {"model": "gram_inverter", "train": {"seed": 3}, "encoder_stage": {"steps": 5}, "stages": []}))
    assert new.train.seed == 3 and new.train == TrainConfig(seed=3)
    assert [(s.steps, s.batch_size, s.lr, s.betas, s.grad_clip) for s in new.stages] == [
        (1000, 8, {"generator": 2e-4, "discriminator": 2e-4}, (0.0, 0.9), 1.0),
        (5, 8, {"encoder": 1e-4}, (0.9, 0.999), None),
        (1000, 8, {"detail": 1e-4}, (0.9, 0.999), None)]
    assert (new.loss.r1_gamma, new.loss.lambda_pos, new.loss.lambda_realpos) == (1.0, 15.0, 15.0)


def test_a_config_of_today_is_not_rewritten():
    cfg = _load("tiny")
    data = cfg.model_dump(mode="json")
    assert GramInverterConfig.model_validate(GramInverterConfig.upgrade_stored(data)) == cfg


def test_the_default_recipe_is_the_ffhq256_preset_and_tiny_shrinks_only_the_sizes():
    assert _load("ffhq256").stages == GramInverterConfig().stages
    tiny = _load("tiny").stages
    assert [(s.name, s.steps, s.batch_size, s.lr) for s in tiny] == [
        (EFFICIENT_GRAM, 3000, 4, {"generator": 1e-3, "discriminator": 1e-3}),
        (ENCODER, 300, 4, {"encoder": 1e-3}), (DETAIL, 300, 4, {"detail": 1e-3})]
    assert [(s.betas, s.grad_clip) for s in tiny] == [(s.betas, s.grad_clip) for s in GramInverterConfig().stages]


def test_a_stage_loss_override_reaches_that_stage_only():
    cfg = _load("tiny", "stages.gram_inverter.encoder.loss.latent=0",
                "stages.gram_inverter.efficient_gram.loss.r1_gamma=4")
    plugin = get_model_spec("gram_inverter").load()
    gan, encoder, detail = plugin.stages(cfg)
    assert encoder.phases[0].loss.keywords["weights"].latent == 0
    assert detail.phases[0].loss.keywords["weights"].latent == cfg.loss.latent == 1.0
    assert cfg.stage_loss(EFFICIENT_GRAM).r1_gamma == 4 and cfg.loss.r1_gamma == 1.0
    assert {name: spec.lr for name, spec in gan.optimizers.items()} == {"generator": 1e-3, "discriminator": 1e-3}


@pytest.mark.parametrize("override, message", [
    ("stages.gram_inverter.encoder.lr={generator: 1.0e-3}",
     "stages.gram_inverter.encoder.lr: give a learning rate for each of ['encoder']"),
    ("stages.gram_inverter.detail.loss.rec_l2=1", "stages.gram_inverter.detail.loss: ['rec_l2'] are not keys"),
])
def test_a_stage_entry_that_does_not_fit_the_recipe_is_refused_with_its_key(override, message):
    from zoo3d.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _load("tiny", override)
