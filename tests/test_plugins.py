"""Plugin discovery, isolation of broken plugins, duplicate names, name normalisation and aliases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, run_cli
from zoo3d.errors import DuplicateNameError, UserError
from zoo3d.plugins import PluginHost, Registry, get_host
from zoo3d.specs import ModelSpec, normalize_name

PLUGIN_DIR = str(FIXTURES / "plugins")


def _env(**extra):
    env = {"PYTHONPATH": os.pathsep.join([PLUGIN_DIR, os.environ.get("PYTHONPATH", "")])}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed_fixture(tmp_path_factory):
    """pip-install the fixture plugin package into a private folder, as a user would install a plugin."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(FIXTURES / "plugins" / "zoo3d_fixture_pkg")],
        check=True, capture_output=True, text=True, timeout=240,
    )
    return target


def test_installed_package_is_discovered_through_its_entry_point(installed_fixture):
    env = {"PYTHONPATH": str(installed_fixture)}
    plugins = json.loads(run_cli("plugins", "--json", env=env).stdout)
    fixture = next(p for p in plugins if p["name"] == "fixture")
    assert fixture["status"] == "ok" and fixture["error"] is None
    assert fixture["source"] == "zoo3d-fixture-plugin" and fixture["version"] == "1.2.3"
    models = json.loads(run_cli("models", "--json", env=env).stdout)
    model = next(m for m in models if m["name"] == "Fixture-Model")
    assert model["aliases"] == ["fixmod"] and model["source"] == "zoo3d-fixture-plugin"
    hello = run_cli("fixture-hello", env=env)
    assert hello.returncode == 0 and "hello from the fixture plugin" in hello.stdout
    # Disabling it by name removes its model and its command, and says so.
    env["ZOO3D_DISABLE_PLUGINS"] = "fixture"
    plugins = json.loads(run_cli("plugins", "--json", env=env).stdout)
    assert next(p for p in plugins if p["name"] == "fixture")["status"] == "disabled"
    assert all(m["name"] != "Fixture-Model" for m in json.loads(run_cli("models", "--json", env=env).stdout))


def test_zoo3d_plugins_env_loads_an_uninstalled_module(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_env_plugin")
    host = get_host()
    info = host.plugins["zoo3d_env_plugin"]
    assert info.status == "ok" and info.source == "ZOO3D_PLUGINS"
    assert host.models.get("env-model").name == "env_model"
    assert host.models.get("ENV_ALIAS").name == "env_model"
    assert host.metrics.get("Env-Metric").higher_is_better is True


def test_broken_plugin_is_reported_and_everything_else_works():
    env = _env(ZOO3D_PLUGINS="zoo3d_broken_plugin,zoo3d_env_plugin")
    help_run = run_cli("--help", env=env)
    assert help_run.returncode == 0 and "Commands" in help_run.stdout
    models = run_cli("models", "--json", env=env)
    assert models.returncode == 0
    assert any(m["name"] == "env_model" for m in json.loads(models.stdout))
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)}
    broken = plugins["zoo3d_broken_plugin"]
    assert broken["status"] == "error"
    assert "RuntimeError" in broken["error"] and "broken on purpose" in broken["error"]
    assert plugins["zoo3d_env_plugin"]["status"] == "ok"


def test_plugin_whose_hook_raises_is_isolated(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_badhook_plugin,zoo3d_env_plugin")
    host = get_host()
    assert host.plugins["zoo3d_badhook_plugin"].status == "error"
    assert "registration failed on purpose" in host.plugins["zoo3d_badhook_plugin"].error
    assert "env_model" in host.models


def test_duplicate_model_names_fail_naming_both_sources(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_env_plugin,zoo3d_dup_plugin")
    host = get_host()
    dup = host.plugins["zoo3d_dup_plugin"]
    assert dup.status == "error"
    assert "ENV-MODEL" in dup.error and "zoo3d_env_plugin" in dup.error and "zoo3d_dup_plugin" in dup.error
    assert host.models.get("env_model").plugin == "zoo3d_env_plugin"


def test_registry_normalises_names_and_resolves_aliases():
    reg: Registry[ModelSpec] = Registry("model")
    reg.add(ModelSpec(name="GRAM-HD", factory="x:y", aliases=("gramhd",), plugin="a", source="pkg-a"))
    reg.add(ModelSpec(name="styleSDF", factory="x:y", plugin="b", source="pkg-b"))
    for name in ("gram-hd", "gram_hd", "GRAM_HD", " Gram-Hd ", "GramHD"):
        assert reg.get(name).name == "GRAM-HD"
    assert reg.get("stylesdf").name == reg.get("STYLE_SDF".replace("_", "")).name == "styleSDF"
    with pytest.raises(DuplicateNameError, match="pkg-a.*pkg-c"):
        reg.add(ModelSpec(name="other", aliases=("Gram_HD",), factory="x:y", plugin="c", source="pkg-c"))
    with pytest.raises(UserError, match="Did you mean 'styleSDF'"):
        reg.get("stylesfd")
    assert normalize_name("Pi-GAN") == "pi_gan"


@pytest.mark.parametrize("args", [["--help"], ["models"], ["models", "--json"], ["plugins"]])
def test_help_and_the_listings_do_not_import_torch_or_model_code(args):
    # `zoo3d models` read the model cards through zoo3d.config, whose camera prior imports torch (seconds)
    code = ("import sys; from zoo3d.cli.main import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m == 'torch' or m.startswith('zoo3d_') and not m.endswith('.plugin')"
            " and '.' in m]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert args == ["--help"] or "gram_hd" in out.stdout  # the listing was printed, cards read


def test_host_can_be_built_twice_without_side_effects():
    a = PluginHost().load()
    b = PluginHost().load()
    assert [s.name for s in a.models] == [s.name for s in b.models]


def test_a_model_whose_base_is_missing_withdraws_its_plugin_with_a_sentence(monkeypatch):
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_needs_plugin,zoo3d_env_plugin")
    host = PluginHost().load()
    info = host.plugins["zoo3d_needs_plugin"]
    assert info.status == "error"
    assert "model 'needs_model' builds on model 'no_such_base', which is not registered" in info.error
    assert "needs_model" not in host.models and "needs_metric" not in host.metrics  # the plugin as a whole
    assert "env_model" in host.models and "gram_hd" in host.models


def test_disabling_gram_withdraws_the_models_built_on_it():
    env = {"ZOO3D_DISABLE_PLUGINS": "gram"}
    plugins = {p["name"]: p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)}
    for name in ("gram_hd", "gram_inverter"):
        assert plugins[name]["status"] == "error"
        assert f"model '{name}' builds on model 'gram', which is not registered" in plugins[name]["error"]
        assert "'gram' (disabled)" in plugins[name]["error"]
    assert plugins["triplane"]["status"] == "ok"
    done = run_cli("train", "gram-hd", "--steps", "1", env=env)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "builds on model 'gram'" in done.stderr


def test_the_gram_family_builds_on_gram_through_its_declared_api_only():
    """GRAM-HD and GRAMInverter import ``zoo3d_gram`` itself (never its modules), and only names it declares."""
    import ast

    import zoo3d_gram

    from conftest import REPO

    for package in ("zoo3d_gram_hd", "zoo3d_gram_inverter"):
        for path in sorted((REPO / "plugins" / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo3d_gram":
                    assert node.module == "zoo3d_gram", f"{path.name} imports {node.module}"
                    for alias in node.names:
                        assert alias.name in zoo3d_gram.__all__, f"{path.name}: {alias.name} is not GRAM's API"
                elif isinstance(node, ast.Import):
                    assert not any(a.name.startswith("zoo3d_gram.") for a in node.names), path.name
    for name in zoo3d_gram.__all__:
        assert getattr(zoo3d_gram, name) is not None


def test_a_module_installed_and_named_in_zoo3d_plugins_is_used_once_with_a_note(monkeypatch, capsys):
    """An installed plugin's module named again in ZOO3D_PLUGINS: one plugin, a one-line note, no error."""
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_gram.plugin")
    host = get_host()
    assert host.plugins["gram"].status == "ok" and "zoo3d_gram.plugin" not in host.plugins
    assert not host.failed_plugins()
    assert host.models.get("gram").plugin == "gram"
    err = capsys.readouterr().err
    assert "note: ZOO3D_PLUGINS names 'zoo3d_gram.plugin', which is already loaded as plugin 'gram'" in err


def test_a_plugin_command_named_like_a_builtin_one_is_refused_and_the_builtin_stays(monkeypatch):
    # the plugin's `train` silently replaced zoo3d's, and `zoo3d plugins` called the plugin ok
    from zoo3d.cli.main import LazyGroup

    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_shadow_plugin")
    host = get_host()
    group = LazyGroup("zoo3d")
    host.add_commands(group)
    info = host.plugins["zoo3d_shadow_plugin"]
    assert info.status == "error" and "'train'" in info.error
    assert group.commands == {}  # a failed plugin adds none of its commands
    assert group.get_command(None, "train").callback.__module__ != "zoo3d_shadow_plugin"
    done = run_cli("train", "--help", env=_env(ZOO3D_PLUGINS="zoo3d_shadow_plugin"))
    assert done.returncode == 0 and "the plugin's train ran" not in done.stdout and "--preset" in done.stdout


def test_a_plugin_refused_for_its_command_serves_no_model_either(monkeypatch, tmp_path):
    # its commands were taken back but its models stayed: `zoo3d plugins` said error and `zoo3d train` used them
    from zoo3d.cli.main import LazyGroup

    (tmp_path / "builds_on_shadow.py").write_text(
        "import click\nfrom zoo3d import hookimpl\nfrom zoo3d.specs import ModelSpec\n\n\n@hookimpl\n"
        "def zoo3d_register_models(register):\n"
        "    register(ModelSpec(name='on_shadow', factory='x:y', requires=('shadow_model',)))\n\n\n"
        "@hookimpl\ndef zoo3d_register_commands(cli):\n"
        "    cli.add_command(click.Command('on-shadow-info', callback=lambda: None))\n")
    monkeypatch.syspath_prepend(PLUGIN_DIR)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO3D_PLUGINS", "zoo3d_shadow_plugin,builds_on_shadow")
    host = get_host()
    assert "shadow_model" in host.models and "on_shadow" in host.models  # commands are checked with the CLI
    group = LazyGroup("zoo3d")
    host.add_commands(group)
    info = host.plugins["zoo3d_shadow_plugin"]
    assert info.status == "error" and info.registered == {}
    with pytest.raises(UserError, match="Unknown model 'shadow_model'") as err:
        host.models.get("shadow_model")
    assert "zoo3d_shadow_plugin (command 'train' is already zoo3d's" in str(err.value)
    dependent = host.plugins["builds_on_shadow"]
    assert dependent.status == "error" and "builds on model 'shadow_model'" in dependent.error
    assert "on_shadow" not in host.models and "gram" in host.models
    assert "on-shadow-info" not in group.commands  # withdrawn with its plugin, though it clashed with nothing
    done = run_cli("train", "shadow_model", "--steps", "1", env=_env(ZOO3D_PLUGINS="zoo3d_shadow_plugin"))
    assert done.returncode == 2 and "Unknown model 'shadow_model'" in done.stderr and "Traceback" not in done.stderr


def test_a_plugin_may_add_a_subcommand_to_a_builtin_group_but_not_replace_one():
    # a plugin could swap `zoo3d data synth` for its own through the group `cli.get_command` returns
    from zoo3d.cli.data import synth

    done = run_cli("data", "synth", "--help", env=_env(ZOO3D_PLUGINS="zoo3d_shadow_subcommand_plugin"))
    assert done.returncode == 0 and "the plugin's synth ran" not in done.stdout and "--count" in done.stdout
    done = run_cli("data", "faces", env=_env(ZOO3D_PLUGINS="zoo3d_shadow_subcommand_plugin"))
    assert done.returncode != 0 and "data faces ran" not in done.stdout  # a failed plugin keeps no subcommand
    done = run_cli("plugins", "--json", env=_env(ZOO3D_PLUGINS="zoo3d_shadow_subcommand_plugin"))
    row = next(r for r in json.loads(done.stdout) if r["name"] == "zoo3d_shadow_subcommand_plugin")
    assert row["status"] == "error" and "'data synth'" in row["error"]
    done = run_cli("data", "faces", env=_env(ZOO3D_PLUGINS="zoo3d_data_subcommand_plugin"))
    assert done.returncode == 0 and "data faces ran" in done.stdout, done.stderr
    assert synth.callback.__module__ == "zoo3d.cli.data"


def test_listings_piped_at_80_columns_show_whole_names():
    # rich squeezed the one wide table until names read `gram_inv…`, `oracle_i…` and `afhq512_…`
    done = run_cli("models", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    for name in ("gram_inverter", "oracle_inconsistent", "afhq512_128", "calibration"):
        assert name in done.stdout, name
    assert "…" not in done.stdout
    done = run_cli("plugins", "--check", env={"COLUMNS": "80"})
    assert "zoo3d_gram_inverter" in done.stdout and "…" not in done.stdout
