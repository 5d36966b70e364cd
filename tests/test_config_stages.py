"""The one config shape: a run's ``stages`` list (merged by name, addressed by name), the shared adversarial
names of ``loss``, per-stage loss overrides, per-role optimisers, and recipes checked before the first step."""

from __future__ import annotations

import re

import pytest
import torch
from pydantic import Field

from zoo3d.config import GanLossConfig, RunConfig, StageConfig, apply_overrides, deep_merge, load_run_config
from zoo3d.core.model import Stage, lazy_corrected, OptimizerSpec, stage_optimizers
from zoo3d.errors import ConfigError


class TwoStageLoss(GanLossConfig):
    eikonal: float = Field(0.1, ge=0)


def _two_stages() -> list[StageConfig]:
    return [StageConfig(name="warmup", steps=10, batch_size=2, lr={"generator": 1e-3}),
            StageConfig(name="gan", steps=20, batch_size=4, lr={"generator": 2e-5, "discriminator": 2e-4},
                        loss={"r1_gamma": 3.0})]


class TwoStageConfig(RunConfig):
    loss: TwoStageLoss = Field(default_factory=lambda: TwoStageLoss(r1_gamma=1.0))
    stages: list[StageConfig] = Field(default_factory=_two_stages)
    stage_names = ("warmup", "gan")
    stage_roles = {"warmup": ("generator",), "gan": ("generator", "discriminator")}


@pytest.fixture
def presets(tmp_path):
    # a preset that names the same stages states only what it changes
    (tmp_path / "tiny.yaml").write_text("stages:\n  - {name: warmup, steps: 3}\n  - {name: gan, batch_size: 8}\n")
    return tmp_path


def test_preset_merges_stages_by_name_and_overrides_address_them_by_name_or_index(presets):
    cfg = load_run_config(TwoStageConfig, "two", presets, overrides=["stages.gan.lr.discriminator=0.5",
                                                                     "stages.0.batch_size=6"])
    warmup, gan = cfg.stages
    assert (warmup.steps, warmup.batch_size, warmup.lr) == (3, 6, {"generator": 1e-3})
    assert (gan.steps, gan.batch_size, gan.lr) == (20, 8, {"generator": 2e-5, "discriminator": 0.5})
    assert cfg.stage("gan") is gan


def test_a_stage_name_with_dots_is_addressed_whole():
    data = {"stages": [{"name": "hd.stage1", "steps": 1}, {"name": "hd.stage2", "lr": {"generator": 1.0}}]}
    apply_overrides(data, ["stages.hd.stage2.lr.generator=0.5", "stages.hd.stage1.steps=4"])
    assert data["stages"] == [{"name": "hd.stage1", "steps": 4}, {"name": "hd.stage2", "lr": {"generator": 0.5}}]
    with pytest.raises(ConfigError, match="no item is named 'hd.stage3'"):
        apply_overrides(data, ["stages.hd.stage3.steps=1"])


def _dotted_stages() -> dict:
    names = ("hd.stage1", "hd.stage2", "hd.sr")
    return {"stages": [{"name": name, "steps": 1, "lr": {"generator": 1.0}} for name in names]}


@pytest.mark.parametrize("override, said, meant", [
    # the start of dotted names: every stage it starts, not the one the closest-name match happened to pick
    ("stages.hd.steps=5", "no item is named 'hd'", ["stages.hd.stage1.steps", "stages.hd.stage2.steps",
                                                    "stages.hd.sr.steps"]),
    ("stages.hd.lr.generator=5", "no item is named 'hd'",
     ["stages.hd.stage1.lr.generator", "stages.hd.stage2.lr.generator", "stages.hd.sr.lr.generator"]),
    ("stages.stage2.steps=5", "no item is named 'stage2'", ["stages.hd.stage2.steps"]),  # its end
    ("stages.sr.steps=5", "no item is named 'sr'", ["stages.hd.sr.steps"]),
    ("stages.hd.stag1.steps=5", "no item is named 'hd.stag1'", ["stages.hd.stage1.steps"]),  # misspelt
    ("stages.hd.stage3.steps=5", "no item is named 'hd.stage3'", ["stages.hd.stage1.steps", "stages.hd.stage2.steps"]),
    ("stages.hd.stage2=5", "give a key of item 'hd.stage2', not the whole item", []),
    ("stages.lowres=5", "no item is named 'lowres'", []),
])
def test_a_dotted_stage_name_written_in_part_is_refused_with_the_whole_paths_meant(override, said, meant):
    with pytest.raises(ConfigError) as err:
        apply_overrides(_dotted_stages(), [override])
    msg = str(err.value)
    assert said in msg, msg
    assert re.findall(r"'(stages\.[^']*)'", msg)[1:] == meant, msg  # the first is the key given
    assert ("a name with dots is written whole" in msg) == ("no item" in msg), msg


def test_a_list_naming_other_items_replaces_the_default_list():
    base = {"stages": [{"name": "a", "steps": 1}, {"name": "b", "steps": 2}]}
    assert deep_merge(base, {"stages": [{"name": "c", "steps": 5}]}) == {"stages": [{"name": "c", "steps": 5}]}
    assert deep_merge(base, {"stages": [{"name": "a"}, {"name": "b", "steps": 9}]})["stages"][1]["steps"] == 9


@pytest.mark.parametrize("override, words", [
    ("stages.gann.steps=1", ["no item is named 'gann'", "did you mean 'stages.gan.steps'"]),
    ("stages.gan=3", ["key of item 'gan'"]),
    ("stages.warmup.lr.discriminator=0.1", ["stages.warmup.lr", "['generator']"]),
    ("stages.gan.loss.eikonall=1", ["stages.gan.loss", "eikonall", "eikonal"]),
    ("stages.gan.loss.r1_gamma=-1", ["stages.gan.loss.r1_gamma", "greater than or equal to 0"]),
    ("stages.warmup.name=decoder", ["['warmup', 'gan']", "in that order"]),
])
def test_stage_mistakes_are_one_sentence_naming_the_key(presets, override, words):
    with pytest.raises(ConfigError) as err:
        load_run_config(TwoStageConfig, "two", presets, overrides=[override])
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_a_model_that_sets_resolutions_elsewhere_refuses_a_stage_resolution_naming_them():
    class FixedResolution(TwoStageConfig):
        resolution_keys = "generator.resolution"

    data = FixedResolution().model_dump()
    data["stages"][1]["resolution"] = 64
    with pytest.raises(ValueError, match=r"stages.gan.resolution: this model's stages train at generator.resolution; "
                                         r"set that instead \(got 64\)"):
        FixedResolution.model_validate(data)
    assert TwoStageConfig.model_validate(data).stage("gan").resolution == 64  # a model that reads it


def test_stage_loss_applies_that_stage_s_overrides_only():
    cfg = TwoStageConfig()
    assert cfg.stage_loss("gan") == TwoStageLoss(r1_gamma=3.0)
    assert cfg.stage_loss("warmup") is cfg.loss and cfg.loss.r1_gamma == 1.0


def test_stage_optimizers_take_each_role_s_rate_and_correct_lazy_roles_exactly():
    stage = StageConfig(name="gan", steps=1, batch_size=1, lr={"generator": 0.0025, "discriminator": 0.002},
                        betas=(0.0, 0.99), grad_clip=5.0)
    specs = stage_optimizers(stage, {"generator": ["generator"], "discriminator": ["discriminator"]},
                             lazy_every={"discriminator": 16})
    g, d = specs["generator"], specs["discriminator"]
    assert (g.modules, g.lr, g.betas, g.grad_clip) == (["generator"], 0.0025, (0.0, 0.99), 5.0)
    c = 16 / 17  # StyleGAN2: lr * c, beta ** c
    assert d.lr == pytest.approx(0.002 * c, rel=1e-12) and d.betas == pytest.approx((0.0, 0.99 ** c), rel=1e-12)
    assert d.grad_clip == 5.0
    assert lazy_corrected(OptimizerSpec(["x"], lr=1.0), None).lr == 1.0
    with pytest.raises(ConfigError, match="no learning rate"):
        stage_optimizers(stage, {"encoder": ["encoder"]})


def test_a_stage_may_clip_each_role_at_its_own_norm_and_a_role_it_leaves_out_is_not_clipped():
    # upstream GRAM and pi-GAN sum the generator's gradient over a batch split before clipping, the
    # discriminator's not: one clip for both cannot say that
    stage = StageConfig(name="gan", steps=1, batch_size=1,
                        lr={"generator": 1e-4, "discriminator": 1e-4, "encoder": 1e-4},
                        grad_clip={"generator": 0.25, "discriminator": 1.0})
    roles = {"generator": ["generator"], "discriminator": ["discriminator"], "encoder": ["encoder"]}
    specs = stage_optimizers(stage, roles)
    assert (specs["generator"].grad_clip, specs["discriminator"].grad_clip, specs["encoder"].grad_clip) == (
        0.25, 1.0, None)
    with pytest.raises(ConfigError, match=r"grad_clip names \['decoder'\]"):
        stage_optimizers(stage.model_copy(update={"grad_clip": {"decoder": 1.0}}), roles)
    with pytest.raises(ValueError):
        StageConfig(name="gan", steps=1, batch_size=1, lr={"generator": 1.0}, grad_clip={"generator": -1.0})


def test_stage_from_config_takes_name_steps_batch_and_resolution():
    cfg = StageConfig(name="res32", steps=7, batch_size=3, lr={"generator": 1.0}, resolution=32)
    stage = Stage.from_config(cfg, [], {})
    assert (stage.name, stage.steps, stage.batch_size, stage.resolution) == ("res32", 7, 3, 32)
    assert Stage.from_config(cfg.model_copy(update={"resolution": None}), [], {}, resolution=64).resolution == 64


def test_base_upgrade_drops_the_train_keys_that_moved_into_stages():
    stored = {"train": {"steps": 5, "batch_size": 2, "seed": 3}, "stages": []}
    assert RunConfig.upgrade_stored(stored)["train"] == {"seed": 3}
    assert RunConfig.upgrade_stored({"train": {"steps": 5}}) == {"train": {"steps": 5}}  # not upgraded by a model


def test_a_misspelt_module_in_a_later_stage_stops_the_run_before_its_first_step(tmp_path, monkeypatch):
    from toy_model import ToyConfig, ToyModel
    from zoo3d.train.engine import Trainer

    class LateTypo(ToyModel):
        def stages(self, config):
            first = super().stages(config)[0]
            later = Stage("later", 1, first.phases, {n: OptimizerSpec(["disc.nett"], lr=1e-3)
                                                     for n in first.optimizers})
            return [first, later]

    trained = []
    monkeypatch.setattr(Trainer, "_train_step", lambda self, *a, **k: trained.append(1))
    with pytest.raises(ValueError, match="'later' names module .disc.nett."):
        Trainer(LateTypo(), ToyConfig(), tmp_path / "run", model_name="toy", progress=False)
    assert not trained


def test_an_index_as_the_last_part_sets_one_element_of_a_list_of_values():
    """``train.sample_seeds.1=7`` replaces that seed and keeps the others; an index past the end and a whole
    stage (a map, set key by key) are still refused."""
    data = {"train": {"sample_seeds": [3, 4, 5]}, "stages": [{"name": "gan", "steps": 1}]}
    apply_overrides(data, ["train.sample_seeds.1=7", "train.sample_seeds.0=[1, 2]"])
    assert data["train"]["sample_seeds"] == [[1, 2], 7, 5]
    with pytest.raises(ConfigError, match=r"the list has no index 3 \(indices: 0 to 2\)"):
        apply_overrides(data, ["train.sample_seeds.3=1"])
    with pytest.raises(ConfigError, match="give a key of item '0', not the whole item"):
        apply_overrides(data, ["stages.0=1"])


def test_a_seed_set_by_index_reaches_the_validated_config(presets):
    cfg = load_run_config(TwoStageConfig, "two", presets, overrides=["train.sample_seeds.0=11"])
    default = TwoStageConfig().train.sample_seeds
    assert cfg.train.sample_seeds == [11, *default[1:]]
