"""The registries a plugin fills, and the lookups zoo3d's commands make in them: every sentence a user reads when a
name is unknown or taken, word for word, with the names it must carry (docs/plugins.md, docs/errors.md)."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest

import zoo3d.plugins as plugins
from zoo3d import hookimpl
from zoo3d.errors import DuplicateNameError, UserError
from zoo3d.plugins import PluginInfo, Registry
from zoo3d.specs import DatasetSpec, MetricSpec, ModelSpec


def spec(name, *aliases, plugin="p", source="pkg-p", **kw):
    return ModelSpec(name=name, factory="x:y", aliases=aliases, plugin=plugin, source=source, **kw)


def test_a_name_is_found_by_any_spelling_and_by_its_aliases():
    reg: Registry[ModelSpec] = Registry("model")
    tri = spec("Tri-Plane", "EG3D", "eg3d-paper")
    reg.add(tri)
    for name in ("tri_plane", " TRI-PLANE ", "eg3d", "EG_3D".replace("_", ""), "EG3D-Paper", "eg3d_paper"):
        assert reg.owner(name) is tri and name in reg and reg.get(name) is tri
    assert reg.owner("triplane") is None and "triplane" not in reg and "eg3d_papers" not in reg


def test_a_taken_name_or_alias_is_refused_naming_both_packages_and_plugins():
    reg: Registry[ModelSpec] = Registry("model")
    reg.add(spec("GRAM-HD", "gramhd", plugin="gram_hd", source="zoo3d"))
    with pytest.raises(DuplicateNameError) as err:
        reg.add(spec("gram_hd", plugin="mine", source="zoo3d-mine"))
    assert str(err.value) == ("model name 'gram_hd' is registered twice: by zoo3d (plugin 'gram_hd') and by "
                              "zoo3d-mine (plugin 'mine')")
    with pytest.raises(DuplicateNameError) as err:  # the clash is on the second alias: every name is checked
        reg.add(spec("fresh", "fresh-too", "Gram_HD", plugin="mine", source="zoo3d-mine"))
    assert str(err.value) == ("model name 'Gram_HD' is registered twice: by zoo3d (plugin 'gram_hd') and by "
                              "zoo3d-mine (plugin 'mine')")
    assert "fresh" not in reg and "fresh_too" not in reg and len(reg) == 1  # nothing of a refused spec stays
    metrics: Registry[MetricSpec] = Registry("metric")
    metrics.add(MetricSpec(name="fid", factory="x:y", plugin="a", source="pkg-a"))
    with pytest.raises(DuplicateNameError, match=r"^metric name 'FID' is registered twice: by pkg-a \(plugin 'a'\)"):
        metrics.check(MetricSpec(name="FID", factory="x:y", plugin="b", source="pkg-b"))


def test_removing_a_spec_takes_its_name_and_aliases_and_leaves_the_others():
    reg: Registry[ModelSpec] = Registry("model")
    a, b = spec("a-model", "a1", "A2"), spec("b-model", "b1")
    reg.add(a)
    reg.add(b)
    reg.remove(a)
    assert [s.name for s in reg] == ["b-model"] and "a1" not in reg and "a2" not in reg and "a_model" not in reg
    assert reg.get("B1") is b
    reg.add(spec("a1"))  # the freed alias can be taken again
    assert reg.get("a1").name == "a1"


def test_an_unknown_name_is_one_sentence_with_the_closest_name_every_known_one_and_the_failed_plugins():
    failed = ["zoo3d_mine (ImportError: no scipyy)", "other (model 'o' builds on model 'q')"]
    reg: Registry[ModelSpec] = Registry("model", lambda: failed)
    reg.add(spec("triplane", "eg3d"))
    reg.add(spec("StyleSDF"))
    reg.add(spec("gram"))
    with pytest.raises(UserError) as err:
        reg.get("eg3e")  # closest to an alias: the hint is the model's own name
    assert str(err.value) == (
        "Unknown model 'eg3e'. Did you mean 'triplane'? Known models: StyleSDF, gram, triplane. Plugins that failed "
        "to load, which may provide it: zoo3d_mine (ImportError: no scipyy), other (model 'o' builds on model 'q') "
        "(see `zoo3d plugins`).")
    failed.clear()
    with pytest.raises(UserError) as err:
        reg.get("Style_SFD")
    assert str(err.value) == "Unknown model 'Style_SFD'. Did you mean 'StyleSDF'? Known models: StyleSDF, gram, triplane."


@pytest.mark.parametrize("kind", ["model", "metric", "dataset"])
def test_an_unknown_name_in_an_empty_registry_says_none_is_registered(kind):
    with pytest.raises(UserError) as err:
        Registry(kind).get("zzzz")
    assert str(err.value) == f"Unknown {kind} 'zzzz'. Known {kind}s: none registered."


def test_a_plugin_record_as_zoo3d_plugins_json_prints_it():
    info = PluginInfo("mine", "zoo3d-mine", "0.3", "zoo3d_mine.plugin", hooks=["zoo3d_register_models"],
                      registered={"models": ["m"]})
    assert info.as_dict() == {"name": "mine", "source": "zoo3d-mine", "version": "0.3", "module": "zoo3d_mine.plugin",
                              "status": "ok", "error": None, "hooks": ["zoo3d_register_models"],
                              "registered": {"models": ["m"]}}
    info.status, info.error = "error", "it broke"
    assert info.as_dict()["status"] == "error" and info.as_dict()["error"] == "it broke"


# ---------------------------------------------------------------- the lookups zoo3d's commands make (roles, keys)

def _fake_plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


@pytest.fixture
def roles_host(monkeypatch):
    """The process host with one third-party plugin and no installed one: models with roles, and a metric and a
    dataset named like a model."""
    def models(register):
        register(ModelSpec(name="Zeta-Net", factory="x:y", aliases=("zn",), roles=("demo", "bench:models")))
        register(ModelSpec(name="alpha_net", factory="x:y", roles=("bench:models",)))
        register(ModelSpec(name="Plain", factory="x:y"))
        register(ModelSpec(name="same", factory="x:m"))

    plugin = _fake_plugin("roles_plugin", zoo3d_register_models=models,
                          zoo3d_register_metrics=lambda register: register(MetricSpec(name="same", factory="x:t")),
                          zoo3d_register_datasets=lambda register: register(DatasetSpec(name="same", factory="x:d")))
    monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=lambda group: []))
    monkeypatch.setitem(sys.modules, "roles_plugin", plugin)
    monkeypatch.setenv("ZOO3D_PLUGINS", "roles_plugin")
    plugins.reset_host()
    return plugins.get_host()


def test_the_models_with_a_role_are_those_that_declare_it_in_name_order(roles_host):
    assert [s.name for s in plugins.models_with_role("bench:models")] == ["alpha_net", "Zeta-Net"]
    assert [s.name for s in plugins.models_with_role("demo")] == ["Zeta-Net"]
    assert plugins.models_with_role("bench") == [] and plugins.models_with_role("bench:models ") == []
    assert plugins.model_with_role("bench:models", "zoo3d bench models").name == "alpha_net"  # the first by name
    with pytest.raises(UserError) as err:
        plugins.model_with_role("bench:freeview", "zoo3d bench freeview")
    assert str(err.value) == ("zoo3d bench freeview needs a model with the role 'bench:freeview', and no registered "
                              "model declares it (see `zoo3d models`).")


def test_a_models_key_is_its_registered_names_whatever_the_spelling_or_alias(roles_host):
    assert plugins.model_key("ZN") == plugins.model_key(" zeta-net ") == "zeta_net"
    assert plugins.model_key("Not-Registered") == "not_registered"  # refused later, where the model is loaded
    assert plugins.get_host() is roles_host  # loaded once per process


def test_each_getter_reads_its_own_registry(roles_host):
    assert isinstance(plugins.get_model_spec("SAME"), ModelSpec) and plugins.get_model_spec("same").factory == "x:m"
    assert isinstance(plugins.get_metric_spec("same"), MetricSpec) and plugins.get_metric_spec("same").factory == "x:t"
    assert isinstance(plugins.get_dataset_spec("same"), DatasetSpec)
    assert plugins.get_dataset_spec("same").factory == "x:d"
    with pytest.raises(UserError, match=r"^Unknown metric 'zeta-net'\. Known metrics: same\.$"):
        plugins.get_metric_spec("zeta-net")
