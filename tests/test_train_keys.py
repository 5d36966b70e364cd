"""``train.steps`` and ``train.batch_size``: read by every recipe that does not declare them unread, and refused,
not ignored, by those that do (pi-GAN, StyleSDF, whose stages have their own); a config with a ``stages`` list
sizes every stage there (GRAM-HD)."""

from __future__ import annotations

import re

import pytest

from zoo3d.config import TrainConfig, load_run_config
from zoo3d.errors import ConfigError
from zoo3d.plugins import get_host

SET = {"steps": 7, "batch_size": 3}  # neither is any stage's default


def _trainable():
    """(spec, plugin) of every registered model whose default config has a training recipe."""
    out = []
    for spec in get_host().models:
        plugin = spec.load()
        if plugin.stages(plugin.config_class()):
            out.append((spec, plugin))
    return out


def _stages(plugin, config) -> list[tuple[str, int, int | None]]:
    return [(s.name, s.steps, s.batch_size) for s in plugin.stages(config)]


def test_every_recipe_reads_the_train_keys_it_does_not_declare_unread():
    unread = {}
    for spec, plugin in _trainable():
        cls = plugin.config_class
        default = cls()
        if default.stages:  # sized by its ``stages`` entries, which never read ``train``
            continue
        changed = default.model_copy(update={"train": TrainConfig(**SET)})
        before, after = _stages(plugin, default), _stages(plugin, changed)
        if default.stages:  # sized by its stages entries: neither key has any effect
            assert after == before, spec.name
            continue
        for key, value in SET.items():
            column = 1 if key == "steps" else 2
            if key in cls.unread_train_keys:  # declared unread: truly without effect
                assert [s[column] for s in after] == [s[column] for s in before], (spec.name, key)
            else:  # read: some stage takes the value
                assert value in [s[column] for s in after], (spec.name, key, after)
        unread[spec.name] = set(cls.unread_train_keys)
    assert {name for name, keys in unread.items() if keys} == {"gram_hd", "stylesdf"}
    assert all(keys in (set(), set(SET)) for keys in unread.values())


@pytest.mark.parametrize("model, key, instead", [
    ("gram", "batch_size", "stages.gram.batch_size"),
    ("gram_hd", "steps", "stage1.steps and stage2.steps"),
    ("stylesdf", "steps", "stylesdf.schedule.sphere_init_steps"),
    ("triplane", "batch_size", "stages.gan.batch_size and stages.finetune.batch_size"),
])
def test_a_new_run_that_sets_an_unread_train_key_is_refused_with_the_keys_to_set(model, key, instead):
    spec = get_host().models.get(model)
    cls = spec.load().config_class
    with pytest.raises(ConfigError) as err:
        load_run_config(cls, spec.name, spec.presets_dir, overrides=[f"train.{key}={SET[key]}"])
    assert f"does not read 'train.{key}' (set to {SET[key]})" in str(err.value) and instead in str(err.value)
    load_run_config(cls, spec.name, spec.presets_dir, overrides=[f"train.{key}={getattr(TrainConfig(), key)}"])
    for preset in sorted(p.stem for p in spec.presets_dir.glob("*.yaml")):  # no preset sets one
        load_run_config(cls, spec.name, spec.presets_dir, preset=preset)


def test_a_config_file_that_sets_one_is_named_in_the_sentence(tmp_path):
    spec, plugin = next((s, p) for s, p in _trainable() if "batch_size" in p.config_class.unread_train_keys)
    instead = plugin.config_class.unread_train_keys["batch_size"]
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  batch_size: 2\n")
    with pytest.raises(ConfigError, match=rf"set to 2 \(in {re.escape(str(path))}\)\): its stages have their own, "
                                          rf"{re.escape(instead)}; set those instead\."):
        load_run_config(plugin.config_class, spec.name, spec.presets_dir, config_file=path)
