"""Every model's config has the one shape, and its recipe reads it: the shared sections, one section per kind
of module, ``loss`` (the adversarial weights under the shared names) and ``stages``, each stage's steps and
batch size going into the recipe's stage of that name. ``train.steps`` / ``train.batch_size`` are refused with
a sentence naming the stage keys."""

from __future__ import annotations

import pytest

from zoo3d.config import GanLossConfig, load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_host

SHARED = {"model", "data", "train", "camera", "loss", "stages"}


def _trainable():
    """(spec, plugin) of every registered model whose default config has a training recipe."""
    out = []
    for spec in get_host().models:
        plugin = spec.load()
        if plugin.stages(plugin.config_class()):
            out.append((spec, plugin))
    return out


def test_there_are_trainable_models_to_check():
    assert {"gram", "gram_hd", "gram_inverter", "pigan", "stylesdf", "triplane"} <= {s.name for s, _ in _trainable()}


@pytest.mark.parametrize("spec, plugin", _trainable(), ids=lambda v: getattr(v, "name", ""))
def test_the_config_has_the_one_shape(spec, plugin):
    cfg = plugin.config_class()
    modules = plugin.build(cfg)
    sections = set(type(cfg).model_fields) - SHARED
    assert sections and all(any(section in name for name in modules) for section in sections), (sections, list(modules))
    assert isinstance(cfg.loss, GanLossConfig)
    recipe = [s.name for s in plugin.stages(cfg)]  # a stage of 0 steps may be left out of the recipe
    assert recipe == [s.name for s in cfg.stages if s.steps or s.name in recipe]


@pytest.mark.parametrize("spec, plugin", _trainable(), ids=lambda v: getattr(v, "name", ""))
def test_every_stage_s_steps_and_batch_reach_the_recipe(spec, plugin):
    cfg = plugin.config_class()
    data = cfg.model_dump()
    for i, stage in enumerate(data["stages"]):  # values no preset or default uses
        stage["steps"], stage["batch_size"] = 1000 + i, 10 + i
    changed = plugin.config_class.model_validate(data)
    got = {s.name: (s.steps, s.batch_size) for s in plugin.stages(changed)}
    assert got == {s["name"]: (s["steps"], s["batch_size"]) for s in data["stages"]}


@pytest.mark.parametrize("key", ["steps", "batch_size"])
@pytest.mark.parametrize("spec, plugin", _trainable(), ids=lambda v: getattr(v, "name", ""))
def test_a_train_step_or_batch_key_is_refused_naming_the_stage_keys(spec, plugin, key):
    cls = plugin.config_class
    with pytest.raises(ConfigError) as err:
        load_run_config(cls, spec.name, spec.presets_dir, overrides=[f"train.{key}=3"])
    msg = str(err.value)
    assert f"'train.{key}' is not a key" in msg and "\n" not in msg
    stages = load_run_config(cls, spec.name, spec.presets_dir).stages  # the default preset's
    assert all(f"'stages.{s.name}.{key}'" in msg for s in stages), msg


def test_a_config_file_that_sets_one_is_named_in_the_sentence(tmp_path):
    spec = get_host().models.get("gram")
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  batch_size: 2\n")
    with pytest.raises(ConfigError, match=rf"'train.batch_size' is not a key \(in {path}\): model 'gram' sets "
                                          r"batch_size per stage, in 'stages.gram.batch_size'\."):
        load_run_config(spec.load().config_class, spec.name, spec.presets_dir, config_file=path)


@pytest.mark.parametrize("spec, plugin", _trainable(), ids=lambda v: getattr(v, "name", ""))
def test_every_preset_loads(spec, plugin):
    presets = sorted(p.stem for p in spec.presets_dir.glob("*.yaml"))
    assert presets
    for preset in presets:
        load_run_config(plugin.config_class, spec.name, spec.presets_dir, preset=preset)
