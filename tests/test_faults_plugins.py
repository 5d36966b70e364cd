"""Plugins written the way a third party gets them wrong: each mistake is one sentence naming the plugin."""

from __future__ import annotations

import json
from pathlib import Path
import textwrap

import pytest
from click.testing import CliRunner

from zoo3d.cli.main import cli, main
from zoo3d.errors import UserError
from zoo3d.plugins import get_host, reset_host

LAZY = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


class NotAModel:
    pass


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="no_module", factory="lazy_no_such_module_xyz:Model"))
    register(ModelSpec(name="no_attr", factory="lazy_plugin:Missing"))
    register(ModelSpec(name="not_a_model", factory="lazy_plugin:NotAModel"))
'''

RETURNS = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@hookimpl
def zoo3d_register_models(register):
    return ModelSpec(name="returned", factory="x:y")
'''

BROKEN = '''
raise ImportError("cannot import name 'Thing' from 'somewhere'")
'''

MISSPELT = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@hookimpl
def zoo3d_register_model(register):
    register(ModelSpec(name="misspelt", factory="x:y"))
'''

UNMARKED = '''
from zoo3d.specs import ModelSpec


def zoo3d_register_models(register):
    register(ModelSpec(name="unmarked", factory="x:y"))
'''

NO_HOOKS = '''
from zoo3d.specs import ModelSpec


def register_model(register):
    register(ModelSpec(name="unhooked", factory="x:y"))
'''

HELPER = '''
from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


def make_spec():
    return ModelSpec(name="helped", factory="x:y")


def zoo3d_version_note():  # named after zoo3d, yet nothing like a hook
    return "helped 1"


@hookimpl
def zoo3d_register_models(register):
    register(make_spec())
'''


DATASETS = '''
from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec


def two_args(cfg, resolution):
    return [cfg, resolution]


class Items(list):
    def __init__(self, cfg, resolution, query="", camera_prior=None, seed=0):
        super().__init__([resolution, query, seed])


@hookimpl
def zoo3d_register_datasets(register):
    register(DatasetSpec(name="two_args", factory="dataset_plugin:two_args"))
    register(DatasetSpec(name="items", factory="dataset_plugin:Items"))
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    for name, text in (("lazy_plugin", LAZY), ("returns_plugin", RETURNS), ("broken_import_plugin", BROKEN),
                       ("misspelt_plugin", MISSPELT), ("unmarked_plugin", UNMARKED), ("no_hooks_plugin", NO_HOOKS),
                       ("helper_plugin", HELPER), ("dataset_plugin", DATASETS)):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def use(monkeypatch, *modules, disabled=None):
    monkeypatch.setenv("ZOO3D_PLUGINS", ",".join(modules))
    if disabled is not None:
        monkeypatch.setenv("ZOO3D_DISABLE_PLUGINS", disabled)
    reset_host()
    return get_host()


def test_failures_of_lazily_imported_model_code_name_the_plugin(plugin_dir, monkeypatch, capsys):
    host = use(monkeypatch, "lazy_plugin")
    assert host.plugins["lazy_plugin"].status == "ok"  # listing stays cheap: nothing imported yet
    for name, phrase in [("no_module", "ModuleNotFoundError: No module named 'lazy_no_such_module_xyz'"),
                         ("no_attr", "AttributeError"),
                         ("not_a_model", "'lazy_plugin:NotAModel' gives a NotAModel, not a ModelPlugin")]:
        with pytest.raises(UserError, match="from plugin 'lazy_plugin'") as err:
            host.models.get(name).load()
        assert phrase in str(err.value) and "\n" not in str(err.value)
        try:
            main(["train", name, "--steps", "1", "--quiet"])
        except SystemExit as exc:
            assert exc.code == 2
        err_text = capsys.readouterr().err
        assert "lazy_plugin" in err_text and "Traceback" not in err_text and len(err_text.strip().splitlines()) == 1


def test_plugins_check_imports_every_factory_and_reports_each(plugin_dir, monkeypatch):
    use(monkeypatch, "lazy_plugin", "broken_import_plugin")
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    mine = {r["name"]: r for r in report["factories"] if r["plugin"] == "lazy_plugin"}
    assert {n: r["status"] for n, r in mine.items()} == {"no_attr": "error", "no_module": "error",
                                                         "not_a_model": "error"}
    builtin = [r for r in report["factories"] if r["plugin"] != "lazy_plugin"]
    assert builtin and all(r["status"] == "ok" for r in builtin), [r for r in builtin if r["status"] != "ok"]
    broken = next(p for p in report["plugins"] if p["name"] == "broken_import_plugin")
    assert broken["status"] == "error"


def test_an_unknown_model_mentions_the_plugins_that_failed_to_load(plugin_dir, monkeypatch):
    host = use(monkeypatch, "broken_import_plugin")
    with pytest.raises(UserError, match="Unknown model 'fancy'") as err:
        host.models.get("fancy")
    assert "Plugins that failed to load, which may provide it: broken_import_plugin (ImportError" in str(err.value)


def test_a_hook_that_returns_a_spec_instead_of_registering_it_is_reported(plugin_dir, monkeypatch):
    host = use(monkeypatch, "returns_plugin")
    info = host.plugins["returns_plugin"]
    assert info.status == "error"
    assert "zoo3d_register_models returned a ModelSpec instead of nothing" in info.error
    assert "returned" not in host.models


@pytest.mark.parametrize("module, model, phrase", [
    ("misspelt_plugin", "misspelt", "zoo3d_register_model (did you mean zoo3d_register_models?) is no zoo3d hook, "
                                    "so zoo3d never calls it; the hooks are zoo3d_register_models, "),
    ("unmarked_plugin", "unmarked", "zoo3d_register_models is not marked with @zoo3d.hookimpl, so zoo3d never "
                                    "calls it"),
    ("no_hooks_plugin", "unhooked", "register_model (did you mean zoo3d_register_models?) is no zoo3d hook"),
])
def test_a_hook_that_zoo3d_would_never_call_fails_the_plugin_in_one_sentence(plugin_dir, monkeypatch, module, model,
                                                                             phrase):
    # pluggy ignored the misspelt or unmarked hook: the plugin was 'ok', --check passed, and the user got only
    # "Unknown model"
    host = use(monkeypatch, module, "helper_plugin")
    info = host.plugins[module]
    assert info.status == "error" and phrase in info.error and "\n" not in info.error
    with pytest.raises(UserError, match=f"Unknown model '{model}'") as err:
        host.models.get(model)
    assert f"{module} (" in str(err.value)
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    assert host.plugins["helper_plugin"].status == "ok" and "helped" in host.models  # a helper is no hook


def test_a_plugin_that_implements_no_hook_fails(plugin_dir, monkeypatch):
    (plugin_dir / "empty_plugin.py").write_text("VERSION = 1\n")
    host = use(monkeypatch, "empty_plugin")
    info = host.plugins["empty_plugin"]
    assert info.status == "error"
    assert info.error.startswith("it implements no zoo3d hook (the hooks are zoo3d_register_models, ")
    assert CliRunner().invoke(cli, ["plugins", "--check"]).exit_code == 1


def test_disabling_a_plugin_name_that_matches_nothing_warns(plugin_dir, monkeypatch, capsys):
    host = use(monkeypatch, "lazy_plugin", disabled="lazy-plugin,no_such_plugin")
    assert host.plugins["lazy_plugin"].status == "disabled"
    assert host.warnings == [w for w in host.warnings if "'no_such_plugin'" in w] and len(host.warnings) == 1
    assert "warning: ZOO3D_DISABLE_PLUGINS names 'no_such_plugin', which matches no plugin" in capsys.readouterr().err



@pytest.mark.parametrize("env", [{"RANK": "1"}, {"ZOO3D_PLUGIN_NOTES_SAID": "1"}])
def test_a_plugin_warning_is_said_once_per_run_not_by_every_process(plugin_dir, monkeypatch, capsys, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    host = use(monkeypatch, "lazy_plugin", disabled="no_such_plugin")
    assert len(host.warnings) == 1  # kept for `zoo3d plugins`
    assert "ZOO3D_DISABLE_PLUGINS" not in capsys.readouterr().err  # rank 0 (or the --nproc launcher) said it


def test_plugins_check_fails_on_a_model_card_that_does_not_validate(monkeypatch, tmp_path):
    """A card with an unknown key (or another model's name) fails --check, as `zoo3d models` flags it."""
    from zoo3d.plugins import get_host

    spec = get_host().models.get("gram")
    card = tmp_path / "card.yaml"
    card.write_text(Path(spec.card).read_text() + "bogus: 1\n")
    monkeypatch.setattr(spec, "card", card)
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    row = next(r for r in json.loads(result.output)["factories"] if r["name"] == "gram")
    assert row["status"] == "error" and "bogus" in row["error"]


def test_a_dataset_factory_with_another_signature_is_one_sentence_naming_the_call(plugin_dir, monkeypatch):
    # `def build(cfg, resolution)` failed inside the first build with "build() got an unexpected keyword
    # argument 'query'" and a traceback
    from zoo3d.config import DataConfig
    from zoo3d.data import build_dataset

    use(monkeypatch, "dataset_plugin")
    with pytest.raises(UserError) as err:
        build_dataset(DataConfig(spec="two_args"), 16)
    assert str(err.value) == (
        "Dataset 'two_args' from plugin 'dataset_plugin': 'dataset_plugin:two_args' cannot be called as zoo3d calls "
        "a dataset factory, factory(cfg, resolution, query=..., camera_prior=..., seed=...) (got an unexpected "
        "keyword argument 'query').")
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    rows = {r["name"]: r for r in json.loads(result.output)["factories"] if r["plugin"] == "dataset_plugin"}
    assert rows["two_args"]["status"] == "error"
    # the class is called as a factory; its row fails at reading the items it serves (plain ints), not at the call
    assert "serves items of type int" in rows["items"]["error"] and "cannot be called" not in rows["items"]["error"]


def test_a_dataset_class_is_the_factory_and_every_caller_passes_the_query(plugin_dir, monkeypatch):
    # a class was instantiated without arguments ("missing 2 required positional arguments"), and the
    # training stream's own path dropped the text after '?'
    import sys

    from zoo3d.config import DataConfig
    from zoo3d.data import build_dataset
    from zoo3d.train.data import build_dataset as train_build_dataset

    use(monkeypatch, "dataset_plugin")
    assert build_dataset(DataConfig(spec="items?count=3"), 16, seed=5) == [16, "count=3", 5]
    monkeypatch.setitem(sys.modules, "zoo3d.data", None)  # the registry path, without zoo3d.data's readers
    assert train_build_dataset(DataConfig(spec="items?count=3"), 16, seed=5) == [16, "count=3", 5]


def test_looking_for_misspelt_hooks_does_not_import_a_lazy_modules_names(plugin_dir, monkeypatch):
    """A package that imports its parts on first use (PEP 562, as zoo3d_gram does) keeps them unimported."""
    (plugin_dir / "lazy_names_plugin.py").write_text(textwrap.dedent('''
        from zoo3d import hookimpl
        from zoo3d.specs import ModelSpec


        @hookimpl
        def zoo3d_register_models(register):
            register(ModelSpec(name="lazily", factory="x:y"))


        def __getattr__(name):
            if name == "heavy":
                raise RuntimeError("heavy was imported")
            raise AttributeError(name)


        def __dir__():
            return [*globals(), "heavy"]
    '''))
    host = use(monkeypatch, "lazy_names_plugin")
    assert host.plugins["lazy_names_plugin"].status == "ok" and "lazily" in host.models
