"""Every public name of ``zoo3d.core.ModelPlugin`` is one docs/plugins.md explains, and the checkpoint-free switch
does what the page says.

A plugin author learns the model interface from plugins.md; a class attribute the commands read (such as
``requires_checkpoint``) that the page never names could only be found in zoo3d's code. The page's sentence on
``requires_checkpoint = False`` is then checked on the test stand-in ``toy_procedural``: with no run under the runs
root, ``load_model(None, model=NAME)`` builds it from its default preset with weights drawn from ``train.seed``
(compared with a build under that seed done here), and ``zoo3d sample NAME`` draws from it without asking for a run.
"""

from __future__ import annotations

import inspect
import re

import torch

from conftest import REPO, run_in_process
from toy_model import one_thread, use_toy
from zoo3d.core import ModelPlugin
from zoo3d.runs import find_runs, load_model


def test_every_public_name_of_model_plugin_is_in_plugins_md():
    page = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:ModelPlugin\.)?([a-z_]+)\b", page))
    public = [name for name, _ in inspect.getmembers(ModelPlugin) if not name.startswith("_")]
    assert {"build", "stages", "config_class", "requires_checkpoint"} <= set(public)
    assert [name for name in public if name not in named] == []


def test_a_checkpoint_free_model_is_built_from_its_config_without_a_run(monkeypatch, tmp_path, capsys):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    with one_thread():
        assert find_runs("toy_procedural") == []
        loaded = load_model(None, model="toy_procedural", device="cpu")
        assert loaded.checkpoint is None and loaded.step == 0 and not loaded.plugin.requires_checkpoint
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(loaded.config.train.seed)
            expected = loaded.plugin.build(loaded.config)["generator"].state_dict()
        got = loaded.generator.state_dict()
        assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)
        code, _, err = run_in_process(capsys, "sample", "toy_procedural", "--seeds", "0-1", "--out", "grid.png")
    assert code == 0, err
    assert (tmp_path / "grid.png").is_file() and not (tmp_path / "runs").exists()
