"""GRAM's config shape: one ``stages.gram`` entry that the recipe reads, and stored configs of older runs
(``optim`` + ``train.steps``/``train.batch_size``) upgraded to exactly the config the new shape gives."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import FIXTURES
from zoo3d.config import StageConfig, load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_model_spec
from zoo3d.train.checkpoint import read_metadata
from zoo3d_gram.config import GramConfig, LossConfig
from zoo3d_gram.model import GramModel

OLD_RUN = FIXTURES / "format1" / "gram" / "run"


def _stored(run) -> dict:
    """The config stored in the run's checkpoint (what a resume reads)."""
    checkpoint = next((run / "checkpoints").glob("*.safetensors"))
    return json.loads(read_metadata(checkpoint)["zoo3d.config"])


def test_a_config_stored_before_stages_upgrades_to_the_new_shape_key_by_key():
    stored = _stored(OLD_RUN)
    assert "optim" in stored and "stages" not in stored  # the old shape
    upgraded = GramConfig.model_validate(GramConfig.upgrade_stored(stored)).model_dump(mode="json")

    # the same run written in today's shape, by hand from the stored values
    new = {k: v for k, v in stored.items() if k != "optim"}
    new["train"] = {k: v for k, v in stored["train"].items() if k not in ("steps", "batch_size")}
    new["loss"] = {**stored["loss"], "r1_every": None}
    new["stages"] = [{"name": "gram", "steps": 4, "batch_size": 2, "lr": {"generator": 3e-4, "discriminator": 4e-4},
                      "betas": [0.0, 0.9], "grad_clip": 1.0, "resolution": None, "loss": {}}]
    expected = GramConfig.model_validate(new).model_dump(mode="json")
    assert set(upgraded) == set(expected) == {"model", "data", "train", "camera", "generator", "discriminator",
                                              "loss", "stages"}
    for key in expected:
        assert upgraded[key] == expected[key], key
    # and the stored values arrive where the recipe reads them
    stage = GramModel().stages(GramConfig.model_validate(upgraded))[0]
    assert (stage.steps, stage.batch_size) == (stored["train"]["steps"], stored["train"]["batch_size"]) == (4, 2)
    assert stage.optimizers["generator"].lr == stored["optim"]["g_lr"]


def test_an_old_config_that_left_out_optimiser_keys_gets_the_defaults_it_had_then():
    stored = {"model": "gram", "train": {"steps": 9}, "optim": {"d_lr": 1e-3, "grad_clip": None}, "stages": []}
    stage = GramConfig.model_validate(GramConfig.upgrade_stored(stored)).stage("gram")
    # 8: the batch_size default of the train section then
    assert (stage.steps, stage.batch_size, stage.lr, stage.betas, stage.grad_clip) == (
        9, 8, {"generator": 2e-5, "discriminator": 1e-3}, (0.0, 0.9), None)
    old_defaults = GramConfig.model_validate(GramConfig.upgrade_stored({"model": "gram"}))
    # today's defaults are the old ones but for the clip, now upstream's per role (1.0 then for both)
    assert old_defaults.stage("gram").grad_clip == 1.0
    assert old_defaults.stages == [s.model_copy(update={"grad_clip": 1.0}) for s in GramConfig().stages]


def test_the_recipe_reads_its_stage_and_loss_sections():
    cfg = load_run_config(GramConfig, "gram", get_model_spec("gram").presets_dir, "tiny", overrides=[
        "stages.gram.steps=7", "stages.gram.batch_size=3", "stages.gram.lr.discriminator=1e-3",
        "stages.gram.betas=[0.5, 0.99]", "stages.gram.grad_clip=0.25", "loss.lambda_realpos=30",
        "stages.gram.loss.r1_gamma=2.5"])
    (stage,) = GramModel().stages(cfg)
    assert (stage.name, stage.steps, stage.batch_size, stage.resolution) == ("gram", 7, 3, 32)
    g, d = stage.optimizers["generator"], stage.optimizers["discriminator"]
    assert (g.modules, g.lr, d.modules, d.lr) == (["generator"], 3e-4, ["discriminator"], 1e-3)
    assert g.betas == d.betas == (0.5, 0.99) and g.grad_clip == d.grad_clip == 0.25
    loss = stage.phases[0].loss.keywords["loss"]  # the stage's override on top of the run's loss section
    assert (loss.r1_gamma, loss.lambda_pos, loss.lambda_realpos, loss.r1_every) == (2.5, 15.0, 30.0, None)
    assert [p.name for p in stage.phases] == ["discriminator", "generator"]


def test_defaults_are_grams_recipe_and_the_loss_keeps_its_names():
    cfg = GramConfig()
    assert cfg.stages == [StageConfig(name="gram", steps=1000, batch_size=8, betas=(0.0, 0.9),
                                      grad_clip={"generator": 0.25, "discriminator": 1.0},
                                      lr={"generator": 2e-5, "discriminator": 2e-4})]
    assert LossConfig().model_dump() == {"r1_gamma": 1.0, "r1_every": None, "lambda_pos": 15.0,
                                         "lambda_realpos": 15.0}


@pytest.mark.parametrize("override, words", [
    ("stages.gram.resolution=64", "stages.gram.resolution: this model's stages train at generator.resolution; set that"),
    ("train.steps=5", "sets steps per stage, in 'stages.gram.steps'"),
    ("stages.gram.lr={generator: 1e-4}", "stages.gram.lr: give a learning rate for each of"),
])
def test_settings_the_recipe_would_not_read_are_refused_with_the_key_to_set(override, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[")):
        load_run_config(GramConfig, "gram", get_model_spec("gram").presets_dir, "tiny", overrides=[override])


def test_no_preset_or_shipped_run_config_keeps_the_old_keys():
    for path in sorted(get_model_spec("gram").presets_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert "optim" not in data and not {"steps", "batch_size"} & set(data.get("train", {})), path.name

