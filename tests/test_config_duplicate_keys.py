"""A key given twice in one mapping of a config file (or of a ``--set`` map) is refused, naming the key and both
lines: YAML requires a mapping's keys to be unique, and PyYAML would keep the later value, so a second ``train:``
section would drop the first one's settings without a word. A ``<<`` merge may still be overridden key by key."""

from __future__ import annotations

import pytest
from test_config import ToyRunConfig
from toy_model import use_toy

from conftest import run_in_process
from zoo3d.config import load_run_config, parse_override
from zoo3d.config_base import load_yaml, read_yaml
from zoo3d.errors import ConfigError


def _said(path) -> str:
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", None, config_file=path)
    return str(err.value)


def test_a_section_given_twice_is_refused_naming_it_and_both_lines(tmp_path):
    """The second ``train:`` would have replaced the first whole: seed 3 lost, the run trained with seed 0."""
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  seed: 3\nnet:\n  hidden: 16\ntrain:\n  amp: false\n")
    assert _said(path) == f"Config file '{path}' gives the key 'train' twice in one mapping, at lines 1 and 5; keep one."


def test_a_key_given_twice_inside_a_section_or_a_stage_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  seed: 3\n  amp: false\n  seed: 4\n")
    assert _said(path) == f"Config file '{path}' gives the key 'seed' twice in one mapping, at lines 2 and 4; keep one."
    path.write_text("stages:\n  - name: main\n    steps: 5\n    batch_size: 2\n    steps: 50\n    lr: {generator: 1}\n")
    assert _said(path) == f"Config file '{path}' gives the key 'steps' twice in one mapping, at lines 3 and 5; keep one."


def test_the_same_key_in_different_mappings_and_a_merge_overridden_key_by_key_are_read():
    assert load_yaml("train: {seed: 3}\nnet: {seed: 3}\nstages: [{name: a}, {name: b}]\n") == \
        {"train": {"seed": 3}, "net": {"seed": 3}, "stages": [{"name": "a"}, {"name": "b"}]}
    assert load_yaml("base: &b {hidden: 16, layers: 2}\nnet:\n  <<: *b\n  hidden: 32\n")["net"] == \
        {"hidden": 32, "layers": 2}


def test_a_set_map_giving_a_key_twice_is_refused_with_the_problem():
    with pytest.raises(ConfigError) as err:
        parse_override("stages.main.lr={generator: 1e-4, generator: 2e-4}")
    assert str(err.value) == ("Override 'stages.main.lr={generator: 1e-4, generator: 2e-4}': the value "
                              "'{generator: 1e-4, generator: 2e-4}' is not valid YAML (the key 'generator' is given "
                              "twice).")


def test_a_model_card_giving_a_key_twice_is_named_as_a_card(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError) as err:
        read_yaml(path, "Model card")
    assert str(err.value) == f"Model card '{path}' gives the key 'name' twice in one mapping, at lines 1 and 2; keep one."


def test_train_refuses_the_file_with_exit_status_2_before_any_run_folder(tmp_path, capsys, monkeypatch):
    use_toy(monkeypatch, tmp_path / "runs")
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  seed: 3\ntrain:\n  amp: false\n")
    code, out, err = run_in_process(capsys, "train", "toy", "--config", path, "--steps", "1", "--out", tmp_path / "run",
                                    "--quiet")
    assert (code, out) == (2, "")
    assert err == f"Error: Config file '{path}' gives the key 'train' twice in one mapping, at lines 1 and 3; keep one.\n"
    assert not (tmp_path / "run").exists()
