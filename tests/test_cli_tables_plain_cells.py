"""Table cells are text, not rich markup: a path or an error holding ``[int]`` or ``[/x]`` is printed as it is (rich
would drop the first as a style tag and refuse the second as a closing tag with nothing to close), in one table and in
the field/value tables of a console too narrow for it; only the columns a caller marks as styled (a coloured status)
are markup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_in_process as zoo3d
from zoo3d.cli.tables import print_fitting_table
from zoo3d.plugins import get_host

TRICKY = "expected [int] at [/x]"


def _printed(width: int, rows, **kwargs) -> str:
    console = Console(width=width, record=True, force_terminal=True, color_system="standard")
    print_fitting_table(console, ["name", "status", "error"], rows, **kwargs)
    return console.export_text(styles=False)


@pytest.mark.parametrize("width, prose", [(200, ()), (36, ("error",)), (36, ())])
def test_a_cell_holding_brackets_is_printed_as_it_is(width, prose):
    """One table; one with the error wrapped; one field/value table a row (the 42 columns the row needs do not fit)."""
    text = _printed(width, [["m", "ok", TRICKY]], prose=prose)
    assert [word for word in text.split() if word in TRICKY.split()] == TRICKY.split()  # wrapped or not, all kept
    assert ("field" in text) is (not prose and width < 42)


def test_a_styled_column_is_markup_and_the_others_are_not():
    console = Console(width=200, record=True, force_terminal=True, color_system="standard")
    print_fitting_table(console, ["name", "status"], [["[red]m[/]", "[green]ok[/]"]], styled=("status",))
    plain, coloured = console.export_text(styles=False, clear=False), console.export_text(styles=True)
    assert "[red]m[/]" in plain and "[green]ok[/]" not in plain and " ok " in plain
    assert "\x1b[32mok" in coloured  # the status in green


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")


def test_a_model_card_under_a_bracketed_folder_is_named_whole_in_the_listing_and_the_check(tmp_path, monkeypatch,
                                                                                          capsys, wide):
    spec = get_host().models.get("pigan")
    card = tmp_path / "[b] [int]" / "card.yaml"  # rich would take both for style tags
    card.parent.mkdir()
    card.write_text(Path(spec.card).read_text().replace("name: pigan", "name: other", 1))
    monkeypatch.setattr(spec, "card", card)
    sentence = f"model card '{card}' is for 'other', not 'pigan'"
    code, out, _ = zoo3d(capsys, "models", "--json")
    assert code == 0 and next(r for r in json.loads(out) if r["name"] == "pigan")["error"] == sentence
    code, out, err = zoo3d(capsys, "models")
    assert code == 0, err
    assert f"error: {sentence}" in out
    code, out, err = zoo3d(capsys, "plugins", "--check")
    assert code == 1 and "Traceback" not in err
    assert sentence in out and f"error: {sentence}" in err.splitlines()


@pytest.mark.parametrize("width", [200, 20])
def test_a_title_holding_brackets_is_printed_as_it_is(width):
    """compare's title names its --set values (speed_resolutions=[32], a path): in one table and above the field/value
    tables of a console too narrow for it."""
    text = _printed(width, [["m", "ok", "e"]], title=f"t {TRICKY}")
    assert [word for word in text.split() if word in TRICKY.split()] == TRICKY.split()
    assert ("field" in text) is (width == 20)
