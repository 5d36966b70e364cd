"""Commands plugins add through ``zoo3d_register_commands(cli)``: the first registrant of a name keeps it, a
refused plugin adds nothing and serves nothing, and what builds on it goes too (docs/plugins.md, "Plugin loading
rules"). The group here is a small click group shaped like zoo3d's (one built-in group, ``data``), so nothing
global is touched; the plugins are fakes registered through the same hooks a third party uses."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import click
import pytest

import zoo3d.plugins as plugins
from zoo3d import hookimpl
from zoo3d.errors import UserError
from zoo3d.plugins import PluginHost
from zoo3d.specs import ModelSpec


class Root(click.Group):
    """``zoo3d`` in small, shaped like its LazyGroup: the built-in commands ``train`` and ``models`` and the group
    ``data`` (with ``synth``) are listed and found, but are not in ``commands``, which holds what plugins add."""

    builtin_groups = ("data",)

    def __init__(self):
        super().__init__("zoo3d")
        data = click.Group("data")
        data.add_command(click.Command("synth"))
        self.builtins = {"train": click.Command("train"), "models": click.Command("models"), "data": data}

    def list_commands(self, ctx):
        return sorted(set(self.builtins) | set(self.commands))

    def get_command(self, ctx, name):
        return self.commands.get(name) or self.builtins.get(name)


def root():
    return Root()


def command(name):
    return click.Command(name, callback=lambda: None)


def fake_plugin(name, commands=None, models=(), calls=None):
    """A plugin registering ``models`` (ModelSpecs) and running ``commands(cli)`` in its commands hook."""
    module = types.ModuleType(name)
    if commands is not None:
        @hookimpl
        def zoo3d_register_commands(cli):
            if calls is not None:
                calls.append(id(cli))
            return commands(cli)
        module.zoo3d_register_commands = zoo3d_register_commands
    if models:
        @hookimpl
        def zoo3d_register_models(register):
            for spec in models:
                register(spec)
        module.zoo3d_register_models = zoo3d_register_models
    return module


@pytest.fixture
def host(monkeypatch):
    """``host(*modules)``: a PluginHost (not loaded yet) that sees these modules in ZOO3D_PLUGINS and no installed
    plugin."""
    def make(*modules):
        monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=lambda group: []))
        for m in modules:
            monkeypatch.setitem(sys.modules, m.__name__, m)
        monkeypatch.setenv("ZOO3D_PLUGINS", ",".join(m.__name__ for m in modules))
        return PluginHost()
    return make


def adds(*names, sub=()):
    def hook(cli):
        for n in names:
            cli.add_command(command(n))
        for n in sub:
            cli.get_command(None, "data").add_command(command(n))
    return hook


def test_the_first_plugin_to_add_a_command_keeps_it_and_a_later_one_is_refused_whole(host):
    h = host(fake_plugin("first_plugin", adds("hello", sub=["faces"]), [ModelSpec(name="first", factory="x:y")]),
             fake_plugin("second_plugin", adds("greet", "hello"), [ModelSpec(name="second", factory="x:y")]),
             fake_plugin("third_plugin", adds("bye"), [ModelSpec(name="third", factory="x:y")]))
    cli = root()
    h.add_commands(cli)  # loads the host first
    first_hello = cli.commands["hello"]
    assert sorted(cli.commands) == ["bye", "hello"]
    assert sorted(cli.get_command(None, "data").commands) == ["faces", "synth"]
    second = h.plugins["second_plugin"]
    assert second.status == "error" and second.error == ("command 'hello' is already zoo3d's or an earlier plugin's; "
                                                         "give it another name")
    assert "second" not in h.models and second.registered == {} and "greet" not in cli.commands
    assert cli.commands["hello"] is first_hello
    assert h.plugins["first_plugin"].status == h.plugins["third_plugin"].status == "ok"
    assert "first" in h.models and "third" in h.models


def test_commands_named_like_zoo3ds_own_are_refused_naming_each(host):
    cli = root()
    train, synth = cli.get_command(None, "train"), cli.get_command(None, "data").commands["synth"]
    h = host(fake_plugin("fine_plugin", adds("fine")),  # after it, zoo3d's own names are still taken
             fake_plugin("shadow_plugin", adds("models", "extra", "train"), [ModelSpec(name="shadow", factory="x:y")]),
             fake_plugin("sub_plugin", adds("sub-extra", sub=["faces", "synth"])))
    h.add_commands(cli)
    assert h.plugins["shadow_plugin"].error == ("command 'models', 'train' is already zoo3d's or an earlier plugin's; "
                                                "give it another name")
    assert h.plugins["sub_plugin"].error == ("command 'data synth' is already zoo3d's or an earlier plugin's; give it "
                                             "another name")
    assert sorted(cli.commands) == ["fine"] and cli.get_command(None, "train") is train
    assert cli.get_command(None, "data").commands == {"synth": synth}  # neither 'faces' nor the plugin's 'synth' stays
    assert "shadow" not in h.models


def test_a_commands_hook_that_raises_or_returns_fails_its_plugin_and_adds_nothing(host):
    line = []

    def raises(cli):
        cli.add_command(command("half-added"))
        cli.get_command(None, "data").add_command(command("half-sub"))
        line.append(sys._getframe().f_lineno + 1)
        raise RuntimeError("commands hook failed")

    def refuses(cli):
        raise UserError("this plugin needs a licence key")

    def returns(cli):
        return command("returned")

    h = host(fake_plugin("raises_plugin", raises, [ModelSpec(name="raising", factory="x:y")]),
             fake_plugin("refuses_plugin", refuses), fake_plugin("returns_plugin", returns))
    cli = root()
    h.add_commands(cli)
    assert h.plugins["raises_plugin"].status == "error"
    assert h.plugins["raises_plugin"].error == f"RuntimeError: commands hook failed ({__file__}:{line[0]})"
    assert h.plugins["refuses_plugin"].error == "this plugin needs a licence key"
    assert h.plugins["returns_plugin"].error == ("zoo3d_register_commands returned a Command instead of nothing; call "
                                                 "cli.add_command(command) (a returned value is not registered)")
    assert cli.commands == {} and list(cli.get_command(None, "data").commands) == ["synth"]
    assert "raising" not in h.models


def test_commands_are_added_once_per_group_and_not_by_a_plugin_that_failed_to_load(host):
    calls, broken_calls = [], []
    broken = fake_plugin("broken_plugin", adds("never"), [ModelSpec(name="b", factory="x:y", requires=("nope",))],
                         calls=broken_calls)
    h = host(broken, fake_plugin("counted_plugin", adds("counted"), calls=calls))
    cli, other = root(), root()
    h.add_commands(cli)
    h.add_commands(cli)
    assert calls == [id(cli)]  # the same group again: nothing is added twice, nothing is refused as taken
    assert h.plugins["counted_plugin"].status == "ok" and "counted" in cli.commands
    h.add_commands(other)
    assert calls == [id(cli), id(other)] and "counted" in other.commands
    assert broken_calls == [] and "never" not in cli.commands and h.plugins["broken_plugin"].status == "error"


def test_a_group_without_builtin_groups_takes_plugin_commands_too(host):
    h = host(fake_plugin("one_plugin", adds("one")), fake_plugin("two_plugin", adds("one", "two")))
    group = click.Group("my-program")  # a program's own group, as get_host().add_commands(group) is documented
    h.add_commands(group)
    assert sorted(group.commands) == ["one"] and h.plugins["two_plugin"].error.startswith("command 'one' is already")


def test_a_plugin_whose_model_builds_on_a_refused_plugins_model_loses_its_commands_too(host):
    h = host(fake_plugin("shadow_plugin", adds("train"), [ModelSpec(name="shadow", factory="x:y")]),
             fake_plugin("on_shadow", adds("on-shadow", sub=["on-shadow-data"]),
                         [ModelSpec(name="on_shadow", factory="x:y", requires=("shadow",))]),
             fake_plugin("independent", adds("independent")))
    h.load()
    assert "on_shadow" in h.models and h.plugins["on_shadow"].status == "ok"  # until the commands are checked
    cli = root()
    h.add_commands(cli)
    dependent = h.plugins["on_shadow"]
    assert dependent.status == "error" and dependent.error.startswith(
        "model 'on_shadow' builds on model 'shadow', which is not registered; plugins not loaded: 'shadow_plugin' "
        "(failed: command 'train' is already zoo3d's")
    assert "on_shadow" not in h.models and dependent.registered == {}
    assert sorted(cli.commands) == ["independent"]
    assert list(cli.get_command(None, "data").commands) == ["synth"]


def test_each_plugin_lists_the_commands_it_added_beside_what_it_registered(host):
    h = host(fake_plugin("first_plugin", adds("hello", sub=["faces"]), [ModelSpec(name="first", factory="x:y")]),
             fake_plugin("quiet_plugin", models=[ModelSpec(name="quiet", factory="x:y")]))
    h.add_commands(root())
    assert h.plugins["first_plugin"].as_dict()["registered"] == {"models": ["first"], "commands": ["hello", "data faces"]}
    assert h.plugins["quiet_plugin"].as_dict()["registered"] == {"models": ["quiet"]}
