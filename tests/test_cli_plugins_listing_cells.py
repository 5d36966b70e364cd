"""``zoo3d plugins``, ``zoo3d plugins --check`` and ``zoo3d models`` with only the plugins of these tests loaded (every
built-in one disabled): the ``--check`` summary of one factory and one preset in the singular, written out by hand;
each ``--json`` indented two spaces a level; a status coloured green (ok) or red (error) and any other shown as it
is; a plugin's kinds joined by ``; `` and a model's aliases by ``, ``; and the long cells (what a plugin registered,
its error, a model's status) wrapped at word boundaries inside one table on a console too narrow for them whole."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.plugins import reset_host

BUILT_IN = "datasets,metrics,oracle,gram,gram_hd,gram_inverter,triplane,stylesdf,pigan"

ONE_MODEL = '''
from pathlib import Path

from zoo3d import hookimpl
from zoo3d.specs import ModelSpec


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="mine", aliases=("mine_a", "mine_b"), factory="toy_model:ToyModel",
                       presets_dir=Path(__file__).parent / "presets"{card}))
'''

MANY_DATASETS = '''
from zoo3d import hookimpl
from zoo3d.specs import DatasetSpec, ModelSpec


@hookimpl
def zoo3d_register_models(register):
    register(ModelSpec(name="clq_other", factory="toy_model:ToyModel"))


@hookimpl
def zoo3d_register_datasets(register):
    for i in range(8):
        register(DatasetSpec(name=f"clq_dataset_number_{i}", factory="nowhere_at_all:Factory"))
'''

BROKEN = "raise ImportError('" + " ".join(["this plugin cannot be imported"] * 6) + "')\n"


@pytest.fixture
def only_ours(tmp_path, monkeypatch):
    """The built-in plugins disabled; ``clq_one_model`` (model ``mine``, aliases ``mine_a`` and ``mine_b``, the preset
    ``tiny``) importable; returns a function that writes and loads the named plugins of this file."""
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tiny.yaml").write_text("toy:\n  z_dim: 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))  # toy_model
    monkeypatch.setenv("ZOO3D_DISABLE_PLUGINS", BUILT_IN)
    monkeypatch.setenv("COLUMNS", "1000")

    def load(*plugins: str, card: Path | None = None) -> None:
        texts = {"clq_one_model": ONE_MODEL.format(card=f", card={str(card)!r}" if card else ""),
                 "clq_many_datasets": MANY_DATASETS, "clq_broken": BROKEN}
        for name in plugins:
            (tmp_path / f"{name}.py").write_text(texts[name])
            monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.setenv("ZOO3D_PLUGINS", ",".join(plugins))
        reset_host()

    yield load
    reset_host()


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]


def _column(out: str, index: int, first: str) -> str:
    """The text of column ``index`` of the table row whose first cell is ``first``, its wrapped lines joined."""
    rows, text = _rows(out), []
    start = next(i for i, r in enumerate(rows) if r[0] == first)
    for i, row in enumerate(rows[start:]):
        if i and row[0]:
            break
        text.append(row[index])
    return " ".join(t for t in text if t)


def test_one_factory_and_one_preset_are_counted_in_the_singular(only_ours, capsys):
    only_ours("clq_one_model")
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 0, err
    assert err.splitlines()[-1] == "1 of 1 factory imports, 1 of 1 preset loads; 0 plugins failed to load."
    only_ours("clq_one_model", "clq_broken")
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1
    assert err.splitlines()[-1] == "1 of 1 factory imports, 1 of 1 preset loads; 1 plugin failed to load."


def test_every_json_is_indented_two_spaces_a_level(only_ours, capsys):
    only_ours("clq_one_model")
    for args in (("plugins", "--json"), ("plugins", "--check", "--json"), ("models", "--json")):
        code, out, err = zoo3d(capsys, *args)
        assert code == 0, err
        assert out == json.dumps(json.loads(out), indent=2) + "\n", args
        assert out.splitlines()[1].startswith("  ") and not out.splitlines()[1].startswith("   ")


def test_a_status_is_green_when_ok_red_on_an_error_and_any_other_as_it_is(only_ours, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm")
    only_ours("clq_one_model", "clq_broken")
    code, out, err = zoo3d(capsys, "plugins")
    assert code == 0, err
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    statuses = {r[0]: r[3] for r in _rows(plain) if r[0]}
    assert statuses == {**{name: "disabled" for name in BUILT_IN.split(",")}, "clq_one_model": "ok",
                        "clq_broken": "error"}
    assert re.search(r"\x1b\[32mok\x1b\[0m", out) and re.search(r"\x1b\[31merror\x1b\[0m", out)
    assert not re.search(r"\x1b\[[0-9;]*mdisabled", out)


def test_a_plugins_kinds_are_joined_by_semicolons_and_a_models_aliases_by_commas(only_ours, capsys):
    only_ours("clq_one_model", "clq_many_datasets")
    code, out, err = zoo3d(capsys, "plugins")
    assert code == 0, err
    rows = {r[0]: r for r in _rows(out) if r[0]}
    assert rows["clq_one_model"][4] == "models: mine"
    assert rows["clq_many_datasets"][4] == "models: clq_other; datasets: " + ", ".join(
        f"clq_dataset_number_{i}" for i in range(8))
    code, out, err = zoo3d(capsys, "models")
    assert code == 0, err
    assert [r[1] for r in _rows(out) if r[0] == "mine"] == ["mine_a, mine_b"]


def test_what_a_plugin_registered_and_its_error_wrap_inside_one_table(only_ours, capsys, monkeypatch):
    only_ours("clq_many_datasets", "clq_broken")
    _, out, _ = zoo3d(capsys, "plugins", "--json")
    registered = "models: clq_other; datasets: " + ", ".join(f"clq_dataset_number_{i}" for i in range(8))
    error = next(r["error"] for r in json.loads(out) if r["name"] == "clq_broken")
    assert "this plugin cannot be imported this plugin" in error
    # name 17, source 13, version 7, status 8, registered's longest word 21 and the error's longest, each with 3
    # columns of padding and border, and the left border: 85 + the error's longest word; unwrapped, the registered
    # cell alone is 194 columns and the error more than 100
    width = max(len(word) for word in error.split()) + 100
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = zoo3d(capsys, "plugins")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= width
    assert "field" not in out  # one table, not a field/value table a row
    assert _column(out, 4, "clq_many_datasets") == registered
    assert _column(out, 5, "clq_broken") == error
    assert registered not in out and error not in out  # each on several lines


def test_a_models_long_status_wraps_inside_one_table(only_ours, capsys, monkeypatch, tmp_path):
    card = tmp_path / "a folder with a rather long name for the card" / "card.yaml"
    card.parent.mkdir()
    import zoo3d_pigan

    card.write_text((Path(zoo3d_pigan.__file__).parent / "card.yaml").read_text())  # a card for 'pigan'
    only_ours("clq_one_model", card=card)
    code, out, _ = zoo3d(capsys, "models", "--json")
    status = "error: " + next(r["error"] for r in json.loads(out) if r["name"] == "mine")
    width = len(status) + 60  # narrower than the row whole
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = zoo3d(capsys, "models")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= width
    assert "field" not in out
    assert _column(out, 6, "mine") == status
    assert status not in out  # on several lines
