"""A registered name zoo3d cannot use in run folders and option values fails its plugin in one sentence.

A model's name names its run folders (``runs/<name>-<time>``) and is written in option values (``--models a,b``,
``--ckpt NAME=PATH``); a metric's in ``--metric a,b`` and ``--set METRIC.KEY=VALUE``; a dataset's before ``?OPTIONS``.
A model registered as ``hello/world`` trained into ``runs/hello/world-<time>``, where ``zoo3d sample`` then found
no run of it. docs/plugins.md gives the characters a name may hold; a name or alias with another one now marks
the plugin ``error`` (its other names are not registered), and the names the built-in plugins use stay valid.
"""

from __future__ import annotations

import re
import sys
import types
from types import SimpleNamespace

import pytest

import zoo3d.plugins as plugins
from conftest import REPO
from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec, MetricSpec, ModelSpec


@pytest.fixture
def load_plugin(monkeypatch):
    """The process host with one plugin module, ``mine``, whose hooks register ``specs`` (and no installed one)."""
    def load(*specs):
        mine = types.ModuleType("mine")
        for hook, kind in (("zoo3d_register_models", ModelSpec), ("zoo3d_register_metrics", MetricSpec),
                           ("zoo3d_register_datasets", DatasetSpec)):
            own = [s for s in specs if type(s) is kind]
            if own:
                setattr(mine, hook, hookimpl(lambda register, own=own: [register(s) for s in own] and None))
        monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=lambda group: []))
        monkeypatch.setitem(sys.modules, "mine", mine)
        monkeypatch.setenv("ZOO3D_PLUGINS", "mine")
        plugins.reset_host()
        return plugins.get_host()

    return load


MODEL_CHARS = "give letters, digits, '-' and '_' only."


@pytest.mark.parametrize(("spec", "sentence"), [
    (ModelSpec(name="hello/world", factory="x:y"),
     f"model name 'hello/world' holds characters zoo3d cannot use in run folders and option values; {MODEL_CHARS}"),
    (ModelSpec(name="my model", factory="x:y"),
     f"model name 'my model' holds characters zoo3d cannot use in run folders and option values; {MODEL_CHARS}"),
    (ModelSpec(name="fine", factory="x:y", aliases=("ok", "a,b")),
     f"model alias 'a,b' holds characters zoo3d cannot use in run folders and option values; {MODEL_CHARS}"),
    (MetricSpec(name="mirror.iou", factory="x:y"),
     f"metric name 'mirror.iou' holds characters zoo3d cannot use in run folders and option values; {MODEL_CHARS}"),
    (DatasetSpec(name="heads?v2", factory="x:y"),
     "dataset name 'heads?v2' holds characters zoo3d cannot use in run folders and option values; give letters, "
     "digits, ':', '.', '-' and '_' only."),
], ids=["slash", "space", "comma-alias", "metric-dot", "dataset-question-mark"])
def test_a_name_with_a_separator_fails_the_plugin(load_plugin, spec, sentence):
    host = load_plugin(ModelSpec(name="other", factory="x:y"), spec)
    assert (host.plugins["mine"].status, host.plugins["mine"].error) == ("error", sentence)
    assert "other" not in host.models                     # nothing of the failed plugin is registered


def test_names_of_the_shapes_zoo3d_uses_register(load_plugin):
    host = load_plugin(ModelSpec(name="Hello-World_2", factory="x:y", aliases=("hw",)),
                       MetricSpec(name="mirror_iou", factory="x:y"), DatasetSpec(name="mine:heads.v2", factory="x:y"))
    assert host.plugins["mine"].status == "ok"
    assert "hw" in host.models and "mirror_iou" in host.metrics and "mine:heads.v2" in host.datasets


def test_plugins_md_states_the_characters():
    page = re.sub(r"\s+", " ", (REPO / "docs" / "plugins.md").read_text(encoding="utf-8"))
    assert "letters, digits, `-` and `_` only" in page and "`:` and `.` too" in page


def test_errors_md_gives_the_sentences_as_the_plugin_listing_shows_them():
    errors = re.sub(r"\s+", " ", (REPO / "docs" / "errors.md").read_text(encoding="utf-8"))
    named = ModelSpec(name="hello/world", factory="x:y").problem()
    role = ModelSpec(name="mine", factory="x:y", roles=("bench:zooo",)).problem()
    assert f"`{named}`" in errors
    head, tail = role.split("(the roles are demo, ")[0], role.split(")")[-1]
    assert f"`{head}(the roles are demo, …){tail}`" in errors
