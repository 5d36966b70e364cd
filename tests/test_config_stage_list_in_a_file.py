"""A config file that lists only the stage it changes (``stages: [{name: gan, steps: 5}]``) replaces the recipe's
list, since stages merge by name only where a list names them all; for a model whose recipe fixes its stages the
refusal says so, not that the stage it lists lacks a ``batch_size`` (which the user would add, then ``lr``, and
then be told the recipe's stages). A list naming every stage merges; a free curriculum may still be replaced."""

from __future__ import annotations

import pytest
from test_config_stages import TwoStageConfig

from zoo3d.config import RunConfig, StageConfig, load_run_config
from zoo3d.errors import ConfigError

RECIPE = ("['warmup', 'gan'], in that order")
TAIL = "a list naming them all merges into theirs stage by stage, so each states only what it changes."


@pytest.fixture
def presets(tmp_path):
    (tmp_path / "tiny.yaml").write_text("stages:\n  - {name: warmup, steps: 3}\n  - {name: gan, batch_size: 8}\n")
    return tmp_path


@pytest.mark.parametrize("listed, got", [
    ("  - {name: gan, steps: 5}\n", "['gan']"),
    ("  - {name: gan, steps: 5}\n  - {name: warmup, steps: 1}\n", "['gan', 'warmup']"),
])
def test_a_file_listing_other_than_every_stage_in_order_is_told_the_recipe_s_stages(presets, tmp_path, listed, got):
    file = tmp_path / "run.yaml"
    file.write_text("extends: tiny\nstages:\n" + listed)
    with pytest.raises(ConfigError) as err:
        load_run_config(TwoStageConfig, "two", presets, config_file=file)
    assert str(err.value) == (f"Invalid config in {file}: stages: this model's recipe has the stages {RECIPE} "
                              f"(got {got}); {TAIL}")


def test_a_file_listing_every_stage_states_only_what_it_changes(presets, tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("extends: tiny\nstages:\n  - {name: warmup}\n  - {name: gan, steps: 5}\n")
    cfg = load_run_config(TwoStageConfig, "two", presets, config_file=file)
    assert [(s.steps, s.batch_size) for s in cfg.stages] == [(3, 2), (5, 8)]


def test_a_curriculum_of_any_stages_is_replaced_by_a_list_naming_others(tmp_path):
    class Curriculum(RunConfig):
        stages: list[StageConfig] = [StageConfig(name="res32", steps=9, batch_size=4, lr={"generator": 1.0}),
                                     StageConfig(name="res64", steps=9, batch_size=2, lr={"generator": 1.0})]

    file = tmp_path / "run.yaml"
    file.write_text("stages:\n  - {name: res64, steps: 5, batch_size: 1, lr: {generator: 0.5}}\n")
    cfg = load_run_config(Curriculum, "c", None, config_file=file)
    assert [(s.name, s.steps, s.batch_size) for s in cfg.stages] == [("res64", 5, 1)]
