"""A ``ModelSpec`` whose ``kind`` or roles zoo3d does not know, or whose names are one text, fails its plugin.

docs/plugins.md gives the kinds (``generator``, ``inverter``, ``calibration``) and the roles (``demo``,
``bench:models`` ...) a spec may declare. A misspelt role used to be kept without a word, and the model was then
left out of the command that plays it (``zoo3d bench zoo`` trained no ``bench:zooo`` model); a misspelt kind was
listed as it was; ``roles=("demo")`` is the text 'demo', whose letters were taken as the roles. Each now marks the
plugin ``error`` with one sentence (the closest known value where there is one), as a duplicate name does, and
the other plugins keep working. The page's lists and the roles zoo3d's own commands ask for are the known ones.
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
from zoo3d.specs import MODEL_KINDS, MODEL_ROLES, MetricSpec, ModelSpec


def _host_with(**spec_fields):
    """The process host with one plugin, ``mine``, registering model ``m`` (with ``spec_fields``) and model
    ``fine`` in one module, and a second plugin, ``other``, registering ``o``."""
    def register_models(register):
        register(ModelSpec(name="fine", factory="x:y"))
        register(ModelSpec(name="m", factory="x:y", **spec_fields))

    mine = types.ModuleType("mine")
    mine.zoo3d_register_models = hookimpl(register_models)
    other = types.ModuleType("other")
    other.zoo3d_register_models = hookimpl(lambda register: register(ModelSpec(name="o", factory="x:y")))
    return mine, other


@pytest.fixture
def host(monkeypatch):
    def load(**spec_fields):
        mine, other = _host_with(**spec_fields)
        monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=lambda group: []))
        monkeypatch.setitem(sys.modules, "mine", mine)
        monkeypatch.setitem(sys.modules, "other", other)
        monkeypatch.setenv("ZOO3D_PLUGINS", "mine,other")
        plugins.reset_host()
        return plugins.get_host()

    return load


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"kind": "generater"},
     "model 'm' declares kind 'generater', which zoo3d does not know (the kinds are generator, inverter, "
     "calibration); did you mean 'generator'?"),
    ({"roles": ("demo", "bench:zooo")},
     "model 'm' declares role 'bench:zooo', which zoo3d does not know (the roles are demo, bench:models, "
     "bench:freeview, bench:invert, bench:zoo, bench:zoo-control); did you mean 'bench:zoo'?"),
    ({"roles": ("showcase",)},
     "model 'm' declares role 'showcase', which zoo3d does not know (the roles are demo, bench:models, "
     "bench:freeview, bench:invert, bench:zoo, bench:zoo-control)."),
    ({"roles": "demo"}, "model 'm' gives roles as the text 'demo'; give a tuple of names, roles=('demo',)."),
    ({"aliases": "eg3d"}, "model 'm' gives aliases as the text 'eg3d'; give a tuple of names, aliases=('eg3d',)."),
    ({"requires": "gram"}, "model 'm' gives requires as the text 'gram'; give a tuple of names, requires=('gram',)."),
], ids=["kind", "role", "role-without-a-close-one", "roles-text", "aliases-text", "requires-text"])
def test_an_unknown_kind_or_role_fails_the_plugin_in_one_sentence(host, fields, sentence):
    loaded = host(**fields)
    assert (loaded.plugins["mine"].status, loaded.plugins["mine"].error) == ("error", sentence)
    assert [s.name for s in loaded.models] == ["o"]               # nothing of the failed plugin is registered
    assert plugins.models_with_role("demo") == [] and loaded.plugins["other"].status == "ok"


def test_known_kinds_and_roles_register():
    for kind in MODEL_KINDS:
        assert ModelSpec(name="m", factory="x:y", kind=kind, roles=MODEL_ROLES).problem() is None


def test_a_metrics_aliases_given_as_text_are_a_problem_too():
    assert MetricSpec(name="q", factory="x:y", aliases="qq").problem() == (
        "metric 'q' gives aliases as the text 'qq'; give a tuple of names, aliases=('qq',).")


def test_the_known_values_are_the_pages_and_those_zoo3ds_commands_ask_for():
    from zoo3d.benchmarks import invert, models, zoo
    from zoo3d.cli.demo import DEMO_ROLE

    page = re.sub(r"\s+", " ", (REPO / "docs" / "plugins.md").read_text(encoding="utf-8"))
    kinds_row = re.search(r"\| `kind` \| ([^|]*) \|", page).group(1)
    roles_row = re.search(r"\| `roles` \| ([^|]*) \|", page).group(1).split("Most plugins declare none")[0]
    assert re.findall(r"`([\w:-]+)`", kinds_row) == list(MODEL_KINDS)
    assert sorted(set(re.findall(r"`((?:demo|bench:[\w-]+))`", roles_row))) == sorted(MODEL_ROLES)
    freeview = (REPO / "zoo3d" / "benchmarks" / "freeview.py").read_text(encoding="utf-8")
    asked = {DEMO_ROLE, models.ROLE, invert.ROLE, zoo.ROLE, zoo.CONTROL_ROLE,
             *re.findall(r'model_with_role\("([^"]+)"', freeview)}
    assert asked == set(MODEL_ROLES)
    assert "a role zoo3d does not know" in page
