"""A model plugin's ``config_class``: one that is no ``RunConfig`` subclass (None, a settings class of the plugin's
own) fails the model's factory in one sentence, in ``zoo3d train`` and as a failed row of ``zoo3d plugins --check``,
where train stopped with a TypeError traceback; one left at ``RunConfig`` itself (forgotten) trains on a config with
no stages, and the recipe's first ``config.stage(name)`` says so, naming the class, where it was a KeyError
traceback."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import one_line_error, run_in_process

PLUGIN = '''
from zoo3d import hookimpl
from zoo3d.core import ModelPlugin
from zoo3d.specs import ModelSpec

import toy_model


class NoConfig(toy_model.ToyModel):
    config_class = None


class Settings:  # a config of its own making, no RunConfig
    stages = ()


class OwnConfig(toy_model.ToyModel):
    config_class = Settings


class Forgotten(ModelPlugin):  # no config_class: RunConfig, whose stages are none
    build = toy_model.ToyModel.build

    def stages(self, config):
        config.stage("main")
        return []


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="no_config", factory="cfg_class_plugin:NoConfig"))
    register(ModelSpec(name="forgotten", factory="cfg_class_plugin:Forgotten"))
    register(ModelSpec(name="own_config", factory="cfg_class_plugin:OwnConfig"))
'''


@pytest.fixture
def models(tmp_path, monkeypatch):
    (tmp_path / "cfg_class_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "cfg_class_plugin")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("cfg_class_plugin", None)


def test_a_config_class_that_is_no_run_config_fails_the_factory(models, capsys):
    sentence = ("Model 'no_config' from plugin 'cfg_class_plugin': 'cfg_class_plugin:NoConfig' gives config_class None, "
                "not a zoo3d.config.RunConfig subclass; set config_class to the model's config class (docs/plugins.md, "
                "Configs and presets).")
    code, _, err = run_in_process(capsys, "train", "no_config", "--steps", "1", "--out", models / "run")
    assert code == 2 and one_line_error(err) == f"Error: {sentence}"
    assert not (models / "run").exists()
    code, out, _ = run_in_process(capsys, "plugins", "--check", "--json")
    rows = {r["name"]: r for r in json.loads(out)["factories"] if r["plugin"] == "cfg_class_plugin"}
    assert code == 1 and rows["no_config"]["error"] == sentence and rows["forgotten"]["status"] == "ok"
    assert rows["own_config"]["error"] == (
        "Model 'own_config' from plugin 'cfg_class_plugin': 'cfg_class_plugin:OwnConfig' gives config_class <class "
        "'cfg_class_plugin.Settings'>, not a zoo3d.config.RunConfig subclass; set config_class to the model's config "
        "class (docs/plugins.md, Configs and presets).")


def test_a_forgotten_config_class_is_named_where_the_recipe_reads_its_first_stage(models, capsys):
    code, _, err = run_in_process(capsys, "train", "forgotten", "--steps", "1", "--out", models / "run")
    assert code == 2 and one_line_error(err) == (
        "Error: No stage 'main' in this config, which has no stages; the model's config class (RunConfig) gives its "
        "recipe's stages as the default of its stages field (docs/plugins.md, Configs and presets).")
    assert not (models / "run").exists()
