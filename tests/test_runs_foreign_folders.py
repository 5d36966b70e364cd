"""A runs root may hold folders of other tools beside zoo3d's runs: a ``config.yaml`` whose ``model`` is a mapping
(a Hydra or EG3D config) or a number is no run of any model. Before, the newest-run search called the model-name
normalisation on it and every ``zoo3d sample MODEL`` under that root ended in an AttributeError traceback."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from toy_model import one_thread, use_toy
from zoo3d.launch import train_model
from zoo3d.runs import find_runs


@pytest.fixture
def root(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    with one_thread():
        yield tmp_path / "runs"


def _foreign(root, name: str, model_text: str) -> None:
    folder = root / name
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.yaml").write_text(f"model:{model_text}\n")
    (folder / "checkpoints" / "step_000000001.safetensors").write_bytes(b"not zoo3d's")


@pytest.mark.parametrize("model_text", ["\n  name: toy\n  depth: 3", " 3", " [toy]"])
def test_a_folder_whose_config_model_is_not_a_name_is_no_run(root, model_text):
    run = train_model("toy", steps=1, progress=False).run_dir
    _foreign(root, "hydra-run", model_text)
    assert find_runs("toy") == [run]


def test_sample_by_model_name_beside_a_foreign_folder_says_there_is_no_run(root, capsys):
    _foreign(root, "hydra-run", "\n  name: toy")
    code, out, err = run_in_process(capsys, "sample", "toy", "--seeds", "0", "--out", "grid.png")
    assert (code, out) == (2, "")
    assert err.strip() == f"Error: No run of model 'toy' found under {root}/; train one with `zoo3d train toy`."


def test_a_folder_whose_config_is_not_utf8_text_is_no_run(root):
    """A Latin-1 ``config.yaml`` (an accented comment written by another tool) raised UnicodeDecodeError."""
    run = train_model("toy", steps=1, progress=False).run_dir
    (root / "latin1-run").mkdir()
    (root / "latin1-run" / "config.yaml").write_bytes("# résumé\nmodel: toy\n".encode("latin-1"))
    assert find_runs("toy") == [run]
