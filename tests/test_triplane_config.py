"""The tri-plane config: its stages (``gan``, ``finetune``), the shape zoo3d 0.1 stored, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError
import zoo3d_triplane
from zoo3d_triplane.config import TriplaneConfig
from zoo3d_triplane.model import TriplaneModel

from conftest import FIXTURES
from test_resume_every_model import CASES, ENGINE

PRESETS = Path(zoo3d_triplane.__file__).parent / "presets"  # shipped in the package, wherever it is laid out


def _load(preset: str = "tiny", overrides=()) -> TriplaneConfig:
    return load_run_config(TriplaneConfig, "triplane", PRESETS, preset, overrides=list(overrides))


def _upgraded(stored: dict) -> TriplaneConfig:
    return TriplaneConfig.model_validate(TriplaneConfig.upgrade_stored(stored))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list) and v and all(isinstance(i, dict) and "name" in i for i in v):
            for item in v:
                out.update(_flat(item, f"{prefix}{k}.{item['name']}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_a_stored_zoo3d_0_1_config_upgrades_to_the_config_the_new_shape_gives():
    # the format-1 run was made from the tiny preset with the resume test's overrides in the old shape
    stored = yaml.safe_load((FIXTURES / "format1" / "triplane" / "run" / "config.yaml").read_text())
    assert "stages" not in stored and stored["loss"]["finetune_steps"] == 3
    old = _flat(_upgraded(stored).model_dump(mode="json"))
    # the tiny preset's truncation then, and a discriminator without the conv clamp
    then = ["train.checkpoint_every=3", "train.sample_truncation=0.7", "discriminator.conv_clamp=null"]
    new = _flat(_load("tiny", ENGINE + CASES["triplane"][0] + then).model_dump(mode="json"))
    assert sorted(old) == sorted(new)
    assert {k: old[k] for k in old if old[k] != new[k]} == {}
    assert (old["stages.gan.steps"], old["stages.finetune.steps"], old["stages.finetune.batch_size"]) == (2, 3, 2)
    assert old["stages.finetune.lr.discriminator"] == 0.002 and old["stages.gan.betas"] == [0.0, 0.99]


def test_a_stored_config_without_the_keys_that_moved_takes_zoo3d_0_1s_defaults():
    cfg = _upgraded({"model": "triplane", "train": {"seed": 3}, "loss": {"g_lr": 0.001, "r1_gamma": 2.0}})
    gan, finetune = cfg.stages
    assert (gan.name, gan.steps, gan.batch_size, gan.lr, gan.betas) == (
        "gan", 1000, 8, {"generator": 0.001, "discriminator": 0.002}, (0.0, 0.99))
    assert (finetune.name, finetune.steps, finetune.batch_size) == ("finetune", 0, 8)
    assert cfg.loss.r1_gamma == 2.0 and cfg.train.seed == 3
    assert [s.name for s in TriplaneModel().stages(cfg)] == ["gan"]  # no fine-tuning: the one stage, as before
    assert _upgraded(cfg.model_dump(mode="json")) == cfg  # a config of today's shape is left as it is


def test_a_finetune_stage_of_0_steps_is_no_stage_and_of_more_fades_from_the_generators_resolution():
    assert [(s.name, s.steps) for s in TriplaneModel().stages(_load("ffhq512"))] == [("gan", 781250)]
    stages = TriplaneModel().stages(_load("afhq512_128"))
    assert [(s.name, s.steps, s.batch_size, s.resolution) for s in stages] == [
        ("gan", 781250, 32, 512), ("finetune", 62500, 32, 512)]


def test_a_stage_may_override_the_loss_for_itself_only():
    # the finetune stage's own lazy R1 interval changes its D optimiser's correction, not the gan stage's
    gan, finetune = TriplaneModel().stages(_load("tiny", ["stages.finetune.steps=5", "stages.finetune.loss.r1_every=8",
                                                          "stages.finetune.lr.discriminator=0.001"]))
    assert gan.optimizers["discriminator"].lr == pytest.approx(0.002 * 16 / 17, rel=1e-12)
    assert finetune.optimizers["discriminator"].lr == pytest.approx(0.001 * 8 / 9, rel=1e-12)
    assert [p.every for p in finetune.phases if p.name == "r1"] == [8]


@pytest.mark.parametrize("override, says", [
    ("loss.lambda_pos=1", "lambda_pos must be 0"),
    ("loss.g_lr=0.001", "'loss.g_lr'"),
    ("loss.finetune_steps=10", "'loss.finetune_steps'"),
    ("train.steps=10", "'stages.gan.steps' and 'stages.finetune.steps'"),
    ("stages.finetune.lr={generator: 0.001}", "give a learning rate for each of ['generator', 'discriminator']"),
])
def test_settings_the_recipe_would_not_honour_are_refused_with_a_sentence(override, says):
    with pytest.raises(ConfigError) as err:
        _load("tiny", [override])
    assert says in str(err.value)


def test_a_config_stored_before_the_discriminator_clamp_keeps_its_unclamped_discriminator():
    today = _load("ffhq512").model_dump(mode="json")
    assert today["discriminator"]["conv_clamp"] == 256
    del today["discriminator"]["conv_clamp"]
    assert _upgraded(today).discriminator.conv_clamp is None  # what it was trained with, not today's default
    assert _upgraded(_load("ffhq512").model_dump(mode="json")).discriminator.conv_clamp == 256  # stored: kept
    assert _upgraded({"model": "triplane"}).discriminator.conv_clamp is None
