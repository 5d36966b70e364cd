"""``zoo3d train --seed S``, which a user tries first: the seed is the config key ``train.seed`` (docs/training.md), so
the refusal names the ``--set`` that does what was meant, before anything is made; the key itself works."""

from __future__ import annotations

import pytest
import yaml

from conftest import run_in_process
from toy_model import use_toy

pytestmark = pytest.mark.usefixtures("single_thread")


def test_seed_is_refused_naming_the_config_key_and_the_set_that_gives_it(monkeypatch, tmp_path, capsys):
    use_toy(monkeypatch, tmp_path / "runs")
    code, out, err = run_in_process(capsys, "train", "toy", "--seed", "3", "--steps", "1", "--out", tmp_path / "run")
    assert (code, out) == (2, "")
    assert err == ("Error: zoo3d train has no --seed: the run's seed is the config key train.seed (0 unless set); "
                   "give --set train.seed=3.\n")
    assert not (tmp_path / "run").exists()
    code, _, err = run_in_process(capsys, "train", "toy", "--set", "train.seed=3", "--steps", "1", "--quiet",
                                  "--out", tmp_path / "run")
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["seed"] == 3
