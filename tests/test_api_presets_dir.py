"""A ``ModelSpec.presets_dir`` that is not a folder is a wrong path, not "a model without presets".

docs/plugins.md: ``presets_dir`` is "a folder of <preset>.yaml files", and a model registered without one runs on
its config class's defaults. A presets_dir that names no folder (a typo, or a wheel built without its package
data) was taken for the latter: ``zoo3d train`` trained on the defaults without a word (here 6 steps where the
preset says 2) and ``zoo3d plugins --check`` passed. Now ``train`` refuses it in one sentence before a run folder
exists, and ``--check`` fails with that sentence on a preset row; without a presets_dir the model still trains
on its defaults. Likewise a ``default_preset`` its folder does not hold: ``zoo3d train NAME`` stops on it, and
``--check``, which read only the presets the folder holds, passed; it now reads the default preset too.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from conftest import one_line_error, run_in_process
from toy_model import one_thread, use_toy
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@pytest.fixture
def toy_with_presets(monkeypatch, tmp_path):
    """Model ``pre`` (the toy stand-in) registered with ``presets_dir`` (and ``default_preset``) as asked; runs
    under tmp_path."""
    def install(presets_dir, default_preset="tiny"):
        plugin = types.ModuleType("zoo3d_pre")
        plugin.zoo3d_register_models = hookimpl(lambda register: register(
            ModelSpec(name="pre", factory="toy_model:ToyModel", presets_dir=presets_dir, default_preset=default_preset)))
        monkeypatch.setitem(sys.modules, "zoo3d_pre", plugin)
        use_toy(monkeypatch, tmp_path / "runs")
        monkeypatch.setenv("ZOO3D_PLUGINS", "toy_model,zoo3d_pre")
        monkeypatch.chdir(tmp_path)
        from zoo3d.plugins import reset_host

        reset_host()

    with one_thread():
        yield install



def test_a_presets_dir_that_is_no_folder_is_refused(toy_with_presets, tmp_path, capsys):
    typo = tmp_path / "presetz"
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tiny.yaml").write_text("stages: [{name: main, steps: 2}]\n")
    toy_with_presets(typo)
    sentence = (f"Model 'pre' keeps its presets in '{typo}', which is not a folder; its plugin's "
                f"ModelSpec(presets_dir=...) names the wrong path, or its package was installed without the folder.")
    code, _, err = run_in_process(capsys, "train", "pre", "--out", "run", "--quiet")
    assert code == 2 and one_line_error(err) == "Error: " + sentence
    assert not Path("run").exists()
    code, out, _ = run_in_process(capsys, "plugins", "--check", "--json")
    rows = [r for r in json.loads(out)["presets"] if r["model"] == "pre"]
    assert code == 1 and [(r["preset"], r["status"], r["error"]) for r in rows] == [("tiny", "error", sentence)]


def test_the_right_folder_and_no_folder_at_all_train(toy_with_presets, tmp_path, capsys):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tiny.yaml").write_text("stages: [{name: main, steps: 2}]\n")
    toy_with_presets(tmp_path / "presets")
    code, _, err = run_in_process(capsys, "train", "pre", "--out", "with", "--quiet")
    assert code == 0, err
    assert [p.name for p in Path("with/checkpoints").glob("*.safetensors")] == ["step_000000002.safetensors"]
    toy_with_presets(None)                                   # the docs' minimal plugin: the class defaults (6 steps)
    code, _, err = run_in_process(capsys, "train", "pre", "--out", "without", "--quiet")
    assert code == 0, err
    assert "step_000000006.safetensors" in [p.name for p in Path("without/checkpoints").glob("*.safetensors")]


def test_a_default_preset_the_folder_does_not_hold_fails_the_check_as_train_fails(toy_with_presets, tmp_path, capsys):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tiny.yaml").write_text("stages: [{name: main, steps: 2}]\n")
    toy_with_presets(tmp_path / "presets", default_preset="small")
    sentence = "Unknown preset 'small' for model 'pre'. Available presets: tiny."
    code, _, err = run_in_process(capsys, "train", "pre", "--out", "run", "--quiet")
    assert code == 2 and one_line_error(err) == "Error: " + sentence
    code, out, _ = run_in_process(capsys, "plugins", "--check", "--json")
    rows = [(r["preset"], r["status"], r["error"]) for r in json.loads(out)["presets"] if r["model"] == "pre"]
    assert code == 1 and rows == [("tiny", "ok", None), ("small", "error", sentence)]
