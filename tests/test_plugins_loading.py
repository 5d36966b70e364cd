"""How the plugin host loads: entry points in their documented order, the ZOO3D_* lists, what each plugin's record
says, the checks of its hooks and specs, and the withdrawal of a plugin whose models build on a missing one
(docs/plugins.md, "Plugin loading rules"). The plugins are small fakes made here, registered through the same
hooks and the same entry-point group a third party's package uses."""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from types import SimpleNamespace

import pytest

import zoo3d.plugins as plugins
from zoo3d import hookimpl
from zoo3d.errors import UserError
from zoo3d.plugins import HOOKS, PluginHost
from zoo3d.specs import DatasetSpec, MetricSpec, ModelSpec

ALL_HOOKS = "zoo3d_register_models, zoo3d_register_metrics, zoo3d_register_datasets, zoo3d_register_commands"


def fake_plugin(name, version=None, **hooks):
    """A plugin module: each keyword a hook function (marked with ``@hookimpl``), or an unmarked one with ``raw_``."""
    module = types.ModuleType(name)
    for attr, fn in hooks.items():
        fn = types.FunctionType(fn.__code__, fn.__globals__, attr, fn.__defaults__, fn.__closure__)  # marked anew
        if attr.startswith("raw_"):
            setattr(module, attr[4:], fn)
        else:
            setattr(module, attr, hookimpl(fn))
    if version is not None:
        module.__version__ = version
    return module


def models(*specs):
    """A ``zoo3d_register_models`` hook registering these specs."""
    def hook(register):
        for s in specs:
            register(s)
    return hook


def model(name, *aliases, **kw):
    return ModelSpec(name=name, factory=kw.pop("factory", "x:y"), aliases=aliases, **kw)


def entry_point(name, obj, dist="zoo3d-extra", version="1.0", value=None):
    loads = []
    ep = SimpleNamespace(name=name, value=value or f"{name}_module:plugin", loads=loads,
                         load=lambda: loads.append(1) or obj,
                         dist=None if dist is None else SimpleNamespace(metadata={"Name": dist}, version=version))
    return ep


@pytest.fixture
def host(monkeypatch):
    """``host(*modules, eps=[...], disabled=...)``: a loaded PluginHost that sees these entry points (no installed
    one) and these modules named in ZOO3D_PLUGINS."""
    def make(*modules, eps=(), disabled=None, env_list=None):
        asked = []

        def entry_points(*, group):
            asked.append(group)
            return list(eps) if group == "zoo3d" else []

        monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=entry_points))
        for m in modules:
            monkeypatch.setitem(sys.modules, m.__name__, m)
        monkeypatch.setenv("ZOO3D_PLUGINS", env_list if env_list is not None else ",".join(m.__name__ for m in modules))
        if disabled is not None:
            monkeypatch.setenv("ZOO3D_DISABLE_PLUGINS", disabled)
        made = PluginHost().load()
        assert asked == ["zoo3d"]
        return made
    return make


# ------------------------------------------------------------------------------------------------ what is loaded

def test_zoo3d_plugins_is_a_comma_list_in_its_order_and_each_record_says_what_the_plugin_did(host):
    one = fake_plugin("one_plugin", version="2.5",
                      zoo3d_register_models=models(model("B-Model"), model("a_model")),
                      zoo3d_register_metrics=lambda register: register(MetricSpec(name="m1", factory="x:y")))
    two = fake_plugin("two_plugin", zoo3d_register_datasets=lambda register: register(
        DatasetSpec(name="d1", factory="x:y")))
    h = host(one, two, env_list=" two_plugin , ,one_plugin,, ")
    assert list(h.plugins) == ["two_plugin", "one_plugin"]
    assert h.plugins["one_plugin"].as_dict() == {
        "name": "one_plugin", "source": "ZOO3D_PLUGINS", "version": "2.5", "module": "one_plugin", "status": "ok",
        "error": None, "hooks": ["zoo3d_register_metrics", "zoo3d_register_models"],
        "registered": {"models": ["B-Model", "a_model"], "metrics": ["m1"]}}
    assert h.plugins["two_plugin"].version == "" and h.plugins["two_plugin"].registered == {"datasets": ["d1"]}
    b = h.models.get("b-model")
    assert (b.plugin, b.source, b.version) == ("one_plugin", "ZOO3D_PLUGINS", "2.5")
    assert h.datasets.get("d1").plugin == "two_plugin" and h.metrics.get("M1").version == "2.5"
    assert h.failed_plugins() == [] and h.warnings == []


def test_a_plugin_can_be_an_object_whose_methods_are_the_hooks(host, monkeypatch):
    class Plugin:
        __version__ = 7

        @hookimpl
        def zoo3d_register_models(self, register):
            register(model("from-a-class"))

        def register_helper_for_me(self):  # a helper: not looked at
            return None

    monkeypatch.setitem(sys.modules, "class_plugin", Plugin())
    h = host(env_list="class_plugin,no_such_plugin_module_anywhere")
    info = h.plugins["class_plugin"]
    assert info.status == "ok" and info.version == "7" and info.hooks == ["zoo3d_register_models"]
    assert h.models.get("from_a_class").plugin == "class_plugin"
    missing = h.plugins["no_such_plugin_module_anywhere"]
    assert missing.status == "error" and missing.error.startswith(
        "ModuleNotFoundError: No module named 'no_such_plugin_module_anywhere' (")
    source, first = inspect.getsourcelines(importlib.import_module)  # where the error is: the last file frame
    call = first + next(i for i, text in enumerate(source) if "_bootstrap._gcd_import(" in text)
    assert missing.error.endswith(f" ({importlib.__file__}:{call})") and missing.as_dict()["version"] == ""


def test_entry_points_load_zoo3ds_own_first_then_the_others_by_package_and_name_and_the_first_name_wins(host):
    def claims(tag):
        return fake_plugin(f"{tag}_mod", zoo3d_register_models=models(model("shared", factory=f"{tag}:M")))

    eps = [entry_point("alpha", claims("zzz"), dist="zzz-extra", version="0.1"),
           entry_point("zeta", claims("own"), dist="Zoo3D", version="0.9"),
           entry_point("b_second", claims("aaa2"), dist="aaa-extra"),
           entry_point("a_first", claims("aaa1"), dist="aaa-extra")]
    h = host(eps=eps)
    assert list(h.plugins) == ["zeta", "a_first", "b_second", "alpha"]
    assert h.models.get("shared").factory == "own:M" and h.models.get("shared").plugin == "zeta"
    assert h.plugins["a_first"].error == ("model name 'shared' is registered twice: by Zoo3D (plugin 'zeta') and by "
                                          "aaa-extra (plugin 'a_first')")
    assert h.plugins["alpha"].as_dict()["source"] == "zzz-extra" and h.plugins["alpha"].version == "0.1"
    assert [p.split(" (")[0] for p in h.failed_plugins()] == ["a_first", "b_second", "alpha"]
    assert h.failed_plugins()[-1] == ("alpha (model name 'shared' is registered twice: by Zoo3D (plugin 'zeta') and "
                                      "by zzz-extra (plugin 'alpha'))")


def test_an_entry_point_seen_twice_is_loaded_once_and_one_named_like_another_is_told_apart_by_its_package(host):
    mine = fake_plugin("mine_mod", zoo3d_register_models=models(model("mine")))
    other = fake_plugin("other_mod", zoo3d_register_models=models(model("other")))
    seen_twice = entry_point("mine", mine, dist="zoo3d-mine", value="mine_mod")
    h = host(eps=[seen_twice, seen_twice, entry_point("mine", other, dist="zoo3d-other", value="other_mod")])
    assert list(h.plugins) == ["mine", "mine (zoo3d-other)"]
    assert h.models.get("other").plugin == "mine (zoo3d-other)" and h.plugins["mine (zoo3d-other)"].module == "other_mod"
    assert seen_twice.loads == [1] and h.warnings == []


def test_an_entry_point_without_a_distribution_is_from_an_unknown_package_with_the_modules_version(host):
    h = host(eps=[entry_point("loose", fake_plugin("loose_mod", version="0.0.1",
                                                   zoo3d_register_models=models(model("loose"))), dist=None)])
    info = h.plugins["loose"]
    assert (info.source, info.version, info.status) == ("unknown", "0.0.1", "ok")
    kept = host(eps=[entry_point("kept", fake_plugin("kept_mod", version="9", zoo3d_register_models=models(
        model("kept"))), version="1.4")])
    assert kept.plugins["kept"].version == "1.4"  # the package's version, not the module's


# ------------------------------------------------------------------------------------------- ZOO3D_DISABLE_PLUGINS

def test_disabled_plugins_are_skipped_by_entry_point_or_package_name_before_they_are_imported(host, capsys):
    loaded = fake_plugin("loaded_mod", zoo3d_register_models=models(model("kept")))
    off_by_name = entry_point("Beta_Plugin", loaded, dist="zoo3d-beta", value="beta.plugin")
    off_by_dist = entry_point("gamma", loaded, dist="Extra-Dist", version="2.0", value="gamma.plugin")
    on = entry_point("delta", loaded, dist="zoo3d-delta")
    after = fake_plugin("after_mod", zoo3d_register_models=models(model("after")))
    h = host(after, eps=[off_by_name, off_by_dist, on], env_list="not_importable_module,after_mod",
             disabled=" beta-plugin , extra_dist,NOT-importable-module")
    assert off_by_name.loads == [] and off_by_dist.loads == [] and on.loads == [1]
    assert h.plugins["gamma"].as_dict() == {"name": "gamma", "source": "Extra-Dist", "version": "2.0",
                                            "module": "gamma.plugin", "status": "disabled", "error": None,
                                            "hooks": [], "registered": {}}
    assert h.plugins["Beta_Plugin"].status == "disabled"
    assert h.plugins["not_importable_module"].as_dict() == {
        "name": "not_importable_module", "source": "ZOO3D_PLUGINS", "version": "", "module": "not_importable_module",
        "status": "disabled", "error": None, "hooks": [], "registered": {}}
    assert h.plugins["delta"].status == "ok" and h.plugins["after_mod"].status == "ok" and h.failed_plugins() == []
    assert h.warnings == [] and capsys.readouterr().err == ""  # every name matched a plugin


def test_a_disabled_name_that_matches_no_plugin_is_a_warning_naming_the_plugins(host, capsys):
    h = host(fake_plugin("b_plugin", zoo3d_register_models=models(model("b"))),
             fake_plugin("a_plugin", zoo3d_register_models=models(model("a"))), disabled="Typo-Name,b_plugin,zzz")
    message = "ZOO3D_DISABLE_PLUGINS names '{}', which matches no plugin (plugins: a_plugin, b_plugin)."
    assert h.warnings == [message.format("typo_name"), message.format("zzz")]
    assert capsys.readouterr().err == "".join(f"warning: {w}\n" for w in h.warnings)
    alone = host(env_list="", disabled="gram")
    assert alone.warnings == ["ZOO3D_DISABLE_PLUGINS names 'gram', which matches no plugin (plugins: none)."]


def test_a_disabled_name_that_only_an_entry_points_module_or_the_zoo3d_plugins_list_has_is_a_warning(host, capsys):
    # `ZOO3D_DISABLE_PLUGINS=zoo3d_gram.plugin` (the module the entry point names) disabled nothing and said nothing
    gram = fake_plugin("gram_mod", zoo3d_register_models=models(model("gram")))
    h = host(fake_plugin("env_mod", zoo3d_register_models=models(model("env"))),
             eps=[entry_point("gram", gram, dist="zoo3d", value="zoo3d_gram.plugin")],
             disabled="zoo3d_gram.plugin,ZOO3D_PLUGINS")
    assert h.plugins["gram"].status == "ok" and h.plugins["env_mod"].status == "ok"
    message = "ZOO3D_DISABLE_PLUGINS names '{}', which matches no plugin (plugins: env_mod, gram)."
    assert h.warnings == [message.format("zoo3d_gram.plugin"), message.format("zoo3d_plugins")]
    assert capsys.readouterr().err == "".join(f"warning: {w}\n" for w in h.warnings)


@pytest.mark.parametrize("rank, said", [("0", True), ("", True), ("2", False)])
def test_a_note_is_said_by_rank_zero_only_and_always_kept(host, monkeypatch, capsys, rank, said):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv(plugins.PLUGIN_NOTES_SAID, "0")
    installed = fake_plugin("installed_mod", zoo3d_register_models=models(model("inst")))
    h = host(installed, eps=[entry_point("inst", installed, dist="zoo3d-inst", value="installed_mod")])
    note = ("ZOO3D_PLUGINS names 'installed_mod', which is already loaded as plugin 'inst'; it is used once "
            "(unset ZOO3D_PLUGINS for it)")
    assert h.warnings == [note] and list(h.plugins) == ["inst"] and h.plugins["inst"].status == "ok"
    assert capsys.readouterr().err == (f"note: {note}\n" if said else "")


# ------------------------------------------------------------------------------------- hooks zoo3d would not call

def _stray(register):
    register(model("never"))


@pytest.mark.parametrize("hooks, error", [
    (dict(zoo3d_register_model=_stray, zoo3d_register_metric=_stray),
     "zoo3d_register_metric (did you mean zoo3d_register_metrics?), zoo3d_register_model (did you mean "
     f"zoo3d_register_models?) are no zoo3d hook, so zoo3d never calls them; the hooks are {ALL_HOOKS}"),
    (dict(zoo3d_register_raw=_stray, zoo3d_register_models=_stray),
     "zoo3d_register_raw (did you mean zoo3d_register_metrics?) is no zoo3d hook, so zoo3d never calls it; the hooks "
     f"are {ALL_HOOKS}"),
    (dict(zoo3d_models=_stray),  # marked, named like no hook: only pluggy knows it is a hook of nothing
     f"zoo3d_models (did you mean zoo3d_register_models?) is no zoo3d hook, so zoo3d never calls it; the hooks are "
     f"{ALL_HOOKS}"),
    (dict(raw_ZOO3D_REGISTER_ALL=_stray, zoo3d_register_models=_stray),  # unmarked, named like one in capitals
     f"ZOO3D_REGISTER_ALL is no zoo3d hook, so zoo3d never calls it; the hooks are {ALL_HOOKS}"),
    (dict(raw_register_models=_stray, zoo3d_register_models=_stray),  # unmarked, close to a hook's name
     f"register_models (did you mean zoo3d_register_models?) is no zoo3d hook, so zoo3d never calls it; the hooks "
     f"are {ALL_HOOKS}"),
    (dict(raw_zoo3d_register_models=_stray, raw_zoo3d_register_datasets=_stray, zoo3d_register_metrics=_stray),
     "zoo3d_register_datasets, zoo3d_register_models are not marked with @zoo3d.hookimpl, so zoo3d never calls them"),
    (dict(raw_zoo3d_register_models=_stray, zoo3d_register_metrics=_stray),
     "zoo3d_register_models is not marked with @zoo3d.hookimpl, so zoo3d never calls it"),
    (dict(raw_helper=_stray, raw_register_helper_for_me=_stray),
     f"it implements no zoo3d hook (the hooks are {ALL_HOOKS}, each marked with @zoo3d.hookimpl)"),
])
def test_a_hook_zoo3d_would_never_call_fails_its_plugin_with_the_sentence_naming_it(host, hooks, error):
    fine = fake_plugin("fine_plugin", zoo3d_register_models=models(model("fine")), raw_make_spec=_stray,
                       raw_zoo3d_version=_stray, raw_register_model_spec=_stray)  # not as close to a hook as 0.8
    fine.zoo3d_register_note = "not a function"
    h = host(fake_plugin("odd_plugin", **hooks), fine)
    assert h.plugins["odd_plugin"].status == "error" and h.plugins["odd_plugin"].error == error
    assert "never" not in h.models and h.plugins["fine_plugin"].status == "ok"  # helpers are not looked at
    assert h.failed_plugins() == [f"odd_plugin ({error})"]
    assert HOOKS == tuple(ALL_HOOKS.split(", "))


# ------------------------------------------------------------------------------------ what the register hooks do

def test_a_register_hook_that_returns_a_value_fails_its_plugin_saying_so(host):
    h = host(fake_plugin("returns_plugin", zoo3d_register_metrics=lambda register: [MetricSpec(name="r", factory="x")]))
    assert h.plugins["returns_plugin"].error == ("zoo3d_register_metrics returned a list instead of nothing; call "
                                                 "register(spec) for each (a returned value is not registered)")
    assert "r" not in h.metrics


@pytest.mark.parametrize("hook, given, sentence", [
    ("zoo3d_register_models", MetricSpec(name="m", factory="x:y"), "zoo3d_register_models expects ModelSpec, got "
                                                                   "MetricSpec"),
    ("zoo3d_register_metrics", model("m"), "zoo3d_register_metrics expects MetricSpec, got ModelSpec"),
    ("zoo3d_register_datasets", "synthetic:x", "zoo3d_register_datasets expects DatasetSpec, got str"),
])
def test_a_spec_of_the_wrong_kind_fails_its_plugin_naming_the_hook_and_both_types(host, hook, given, sentence):
    def register_it(register):
        register(given)

    h = host(fake_plugin("wrong_kind", **{hook: register_it}))
    error = h.plugins["wrong_kind"].error
    assert error.startswith(f"TypeError: {sentence} (") and error.endswith(")") and "\n" not in error


def test_a_plugin_is_committed_whole_or_not_at_all(host):
    line = []

    def failing_metrics(register):
        line.append(sys._getframe().f_lineno + 1)
        raise RuntimeError("metrics hook failed")

    h = host(fake_plugin("half_plugin", zoo3d_register_models=models(model("half")),
                         zoo3d_register_metrics=failing_metrics),
             fake_plugin("twice_plugin", zoo3d_register_models=models(model("One", "uno"), model("Two", "UNO"))),
             fake_plugin("both_kinds", zoo3d_register_models=models(model("same")),
                         zoo3d_register_metrics=lambda register: register(MetricSpec(name="Same", factory="x:y"))))
    assert h.plugins["half_plugin"].error == f"RuntimeError: metrics hook failed ({__file__}:{line[0]})"
    assert "half" not in h.models and h.plugins["half_plugin"].registered == {}
    assert h.plugins["twice_plugin"].error == "model name 'Two' is registered twice by ZOO3D_PLUGINS"
    assert "one" not in h.models and "uno" not in h.models
    assert h.plugins["both_kinds"].status == "ok"  # a model and a metric may share a name
    assert h.plugins["both_kinds"].registered == {"models": ["same"], "metrics": ["Same"]}


# --------------------------------------------------------------------------------- models that build on a missing one

def test_a_plugin_whose_model_builds_on_a_missing_one_is_withdrawn_and_so_is_what_builds_on_it(host):
    base = fake_plugin("base_plugin", zoo3d_register_models=models(model("base")))
    hd = fake_plugin("hd_plugin", zoo3d_register_models=models(model("HD", requires=("Base",)),
                                                               model("hd-extra", requires=("base", "elsewhere", "gone"))),
                     zoo3d_register_metrics=lambda register: register(MetricSpec(name="hd_metric", factory="x:y")),
                     zoo3d_register_datasets=lambda register: register(DatasetSpec(name="hd_data", factory="x:y")))
    ultra = fake_plugin("ultra_plugin", zoo3d_register_models=models(model("ultra", requires=("hd",))))
    fine = fake_plugin("fine_plugin", zoo3d_register_models=models(model("fine", requires=("BASE",))))
    broken = fake_plugin("broken_plugin", zoo3d_register_metrics=lambda register: register("not a spec"))
    h = host(base, broken, hd, ultra, fine, eps=[entry_point("off", base, dist="zoo3d-off")], disabled="off")
    hd_error = ("model 'hd-extra' builds on model 'elsewhere' and 'gone', which is not registered; plugins not loaded: "
                "'off' (disabled), 'broken_plugin' (failed: " + h.plugins["broken_plugin"].error + "). Enable the "
                "plugin that provides it, or disable 'hd_plugin' as well.")
    assert h.plugins["hd_plugin"].status == "error" and h.plugins["hd_plugin"].error == hd_error
    assert h.plugins["hd_plugin"].registered == {}
    assert "hd" not in h.models and "hd_extra" not in h.models and "hd_metric" not in h.metrics
    assert "hd_data" not in h.datasets
    assert h.plugins["ultra_plugin"].error == (
        "model 'ultra' builds on model 'hd', which is not registered; plugins not loaded: 'off' (disabled), "
        f"'broken_plugin' (failed: {h.plugins['broken_plugin'].error}), 'hd_plugin' (failed: {hd_error}). Enable "
        "the plugin that provides it, or disable 'ultra_plugin' as well.")
    assert "ultra" not in h.models
    assert h.plugins["fine_plugin"].status == "ok" and h.models.get("fine").requires == ("BASE",)
    assert [s.name for s in h.models] == ["base", "fine"]


def test_a_missing_base_without_any_plugin_down_says_only_what_is_missing(host):
    h = host(fake_plugin("lone_plugin", zoo3d_register_models=models(model("lone", requires=("nowhere",)),
                                                                     model("lone_too", requires=("elsewhere",)))))
    assert h.plugins["lone_plugin"].error == ("model 'lone' builds on model 'nowhere', which is not registered. "
                                              "Enable the plugin that provides it, or disable 'lone_plugin' as well.")
    with pytest.raises(UserError) as err:
        h.models.get("lone")
    assert str(err.value) == ("Unknown model 'lone'. Known models: none registered. Plugins that failed to load, "
                              f"which may provide it: lone_plugin ({h.plugins['lone_plugin'].error}) (see "
                              "`zoo3d plugins`).")


def test_a_misspelt_base_is_named_with_the_registered_model_it_likely_means(host):
    """requires=("grma",) read as a plugin to enable; the closest registered name or alias is named with it."""
    base = fake_plugin("base_plugin", zoo3d_register_models=models(model("gram", "grammar")))
    typo = fake_plugin("typo_plugin", zoo3d_register_models=models(model("mine", requires=("grma", "nowhere")),
                                                                   model("mine_too", requires=("mine_to",))))
    alias = fake_plugin("alias_plugin", zoo3d_register_models=models(model("other", requires=("Grammer",))))
    h = host(base, typo, alias)
    assert h.plugins["typo_plugin"].error == (
        "model 'mine' builds on model 'grma' (did you mean 'gram'?) and 'nowhere', which is not registered. Enable the "
        "plugin that provides it, or disable 'typo_plugin' as well.")  # not 'mine_too' of its own plugin, withdrawn
    assert h.plugins["alias_plugin"].error.startswith(  # through an alias, whatever the case
        "model 'other' builds on model 'Grammer' (did you mean 'gram'?), which is not registered; ")


def test_a_misspelt_base_is_not_pointed_at_a_model_withdrawn_with_it(host):
    """'mined' is a typo of 'mine', whose plugin goes in the same round (its own base is missing): naming it would
    send the user to a model that is not there ('early' is checked first, while 'mine' is still registered)."""
    near = fake_plugin("near_plugin", zoo3d_register_models=models(model("early", requires=("mined",))))
    gone = fake_plugin("gone_plugin", zoo3d_register_models=models(model("mine", requires=("nowhere",))))
    h = host(near, gone)
    assert h.plugins["gone_plugin"].status == h.plugins["near_plugin"].status == "error"
    assert h.plugins["near_plugin"].error.startswith("model 'early' builds on model 'mined', which is not registered")


@pytest.mark.parametrize("kind", ["model", "metric", "dataset"])
def test_every_registry_names_the_plugins_that_failed_when_a_name_is_unknown(host, kind):
    h = host(fake_plugin("failing_plugin", zoo3d_register_models=lambda register: register(model("f", requires=("g",)))))
    with pytest.raises(UserError) as err:
        getattr(h, kind + "s").get("wanted")
    assert str(err.value) == (f"Unknown {kind} 'wanted'. Known {kind}s: none registered. Plugins that failed to load, "
                              f"which may provide it: failing_plugin ({h.plugins['failing_plugin'].error}) (see "
                              "`zoo3d plugins`).")


# --------------------------------------------------------------------------------------- zoo3d plugins --check

class DatasetFactory:
    def __repr__(self):
        return "<a dataset factory>"

    def __call__(self, cfg, resolution, query="", camera_prior=None, seed=0):
        return []


def build_items(cfg, resolution, query="", camera_prior=None, seed=0):
    return []


def test_check_factories_imports_each_factory_and_gives_one_row_each_in_kind_then_name_order(host):
    def datasets(register):
        register(DatasetSpec(name="b_data", factory=DatasetFactory()))
        register(DatasetSpec(name="A_data", factory=build_items))

    h = host(fake_plugin("check_plugin", zoo3d_register_datasets=datasets,
                         zoo3d_register_models=models(model("nowhere", factory="no_such_module_for_check:Model")),
                         zoo3d_register_metrics=lambda register: register(MetricSpec(name="zz", factory="x:y"))))
    rows = h.check_factories()
    assert [(r["kind"], r["name"], r["status"]) for r in rows] == [
        ("model", "nowhere", "error"), ("metric", "zz", "error"), ("dataset", "A_data", "ok"),
        ("dataset", "b_data", "ok")]
    assert rows[0] == {"plugin": "check_plugin", "kind": "model", "name": "nowhere",
                       "factory": "no_such_module_for_check:Model", "status": "error",
                       "error": "Model 'nowhere' from plugin 'check_plugin' cannot be loaded from "
                                "'no_such_module_for_check:Model': ModuleNotFoundError: No module named "
                                "'no_such_module_for_check'."}
    assert rows[1]["error"].startswith("Metric 'zz' from plugin 'check_plugin' cannot be loaded from 'x:y': ")
    assert rows[2] == {"plugin": "check_plugin", "kind": "dataset", "name": "A_data", "factory": repr(build_items),
                       "status": "ok", "error": None}
    assert rows[3]["factory"] == "<a dataset factory>"
