"""What ``--preset`` and ``--config`` make of paths: ``--config=~/run.yaml`` (a ``~`` no shell expands after ``=``)
is the file in the home folder, as ``--data ~/faces`` is that folder; a YAML file given to ``--preset`` is refused
pointing at ``--config``; a preset name that differs only in case is suggested."""

from __future__ import annotations

import pytest
from test_config import ToyRunConfig

from zoo3d.config import load_run_config
from zoo3d.errors import ConfigError


@pytest.fixture
def presets(tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "tiny.yaml").write_text("net:\n  hidden: 16\n")
    (folder / "ffhq256.yaml").write_text("net:\n  hidden: 256\n")
    return folder


def _refusal(presets, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        load_run_config(ToyRunConfig, "toy", presets, **kwargs)
    return str(err.value)


def test_a_config_file_under_the_home_folder_is_read_from_a_tilde_path(presets, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "run.yaml").write_text("extends: ffhq256\ntrain:\n  seed: 7\n")
    cfg = load_run_config(ToyRunConfig, "toy", presets, config_file="~/run.yaml")
    assert (cfg.train.seed, cfg.net.hidden) == (7, 256)
    assert _refusal(presets, config_file="~/nope.yaml") == f"Config file '{tmp_path / 'nope.yaml'}' does not exist."


def test_a_yaml_file_given_as_a_preset_is_refused_pointing_at_config(presets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.yaml").write_text("net:\n  hidden: 8\n")
    assert _refusal(presets, preset="./run.yaml") == ("Unknown preset './run.yaml' for model 'toy': --preset takes a "
                                                      "preset's name, not a file (zoo3d train reads a config file with "
                                                      "--config ./run.yaml). Available presets: ffhq256, tiny.")


@pytest.mark.parametrize("name, meant", [("TINY", "tiny"), ("FFHQ256", "ffhq256"), ("tiny.yaml", "tiny")])
def test_a_preset_name_in_other_case_or_with_its_suffix_is_suggested(presets, tmp_path, monkeypatch, name, meant):
    monkeypatch.chdir(tmp_path)  # no file of that name here: a preset's name was meant
    assert _refusal(presets, preset=name) == (f"Unknown preset '{name}' for model 'toy'. Did you mean '{meant}'? "
                                              f"Available presets: ffhq256, tiny.")
