"""A hook function taking an argument zoo3d does not pass fails its plugin in one sentence that names the call.

docs/plugins.md: "Every hook receives one argument", ``register`` for the register hooks and ``cli`` for
``zoo3d_register_commands``. pluggy refuses an implementation with another argument name (``registr``) or an extra
argument; the plugin was marked ``error`` with pluggy's own three-line message, whose location was pluggy's file.
It is now one sentence with the function as written and the call zoo3d makes; the other plugins keep working.
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
from zoo3d.specs import ModelSpec


def _models_a(registr):
    registr(ModelSpec(name="a", factory="x:y"))


def _commands_b(cli, extra):
    pass


@pytest.mark.parametrize(("hook", "function", "sentence"), [
    ("zoo3d_register_models", _models_a,
     "zoo3d_register_models(registr) takes arguments zoo3d does not pass; zoo3d calls it with one argument, "
     "zoo3d_register_models(register)"),
    ("zoo3d_register_commands", _commands_b,
     "zoo3d_register_commands(cli, extra) takes arguments zoo3d does not pass; zoo3d calls it with one argument, "
     "zoo3d_register_commands(cli)"),
], ids=["misnamed", "extra"])
def test_a_hook_with_an_argument_zoo3d_does_not_pass_is_one_sentence(monkeypatch, hook, function, sentence):
    mine = types.ModuleType("mine")
    setattr(mine, hook, hookimpl(function))
    other = types.ModuleType("other")
    other.zoo3d_register_models = hookimpl(lambda register: register(ModelSpec(name="o", factory="x:y")))
    monkeypatch.setattr(plugins, "metadata", SimpleNamespace(entry_points=lambda group: []))
    monkeypatch.setitem(sys.modules, "mine", mine)
    monkeypatch.setitem(sys.modules, "other", other)
    monkeypatch.setenv("ZOO3D_PLUGINS", "mine,other")
    plugins.reset_host()
    host = plugins.get_host()
    assert (host.plugins["mine"].status, host.plugins["mine"].error) == ("error", sentence)
    assert host.plugins["other"].status == "ok" and [s.name for s in host.models] == ["o"]


def test_errors_md_gives_the_sentence():
    errors = re.sub(r"\s+", " ", (REPO / "docs" / "errors.md").read_text(encoding="utf-8"))
    assert ("`zoo3d_register_models(registr) takes arguments zoo3d does not pass; zoo3d calls it with one argument, "
            "zoo3d_register_models(register)`") in errors
