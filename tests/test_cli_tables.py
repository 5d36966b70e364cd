"""Tables wider than the terminal: prose columns wrap at word boundaries while every other cell stays whole,
and only a console too narrow even for that gets one field/value table per row."""

from __future__ import annotations

import io

from click.testing import CliRunner
from rich.console import Console

from zoo3d.cli.tables import _table_width, _width_ranges, print_fitting_table

COLUMNS = ["name", "kind", "paper"]
ROWS = [["gram_inverter", "inverter", "Learning Detailed Radiance Manifolds for High-Fidelity Portraits"],
        ["oracle_inconsistent", "calibration", ""],
        ["stylesdf", "generator", "StyleSDF: High-Resolution 3D-Consistent Image and Geometry Generation"]]


def _print(width: int, prose=("paper",)) -> list[str]:
    out = io.StringIO()
    print_fitting_table(Console(file=out, width=width), COLUMNS, ROWS, prose=prose)
    return out.getvalue().splitlines()


def _field_value_tables(lines: list[str]) -> int:
    return sum([cell.strip() for cell in line.split("┃")[1:-1]] == ["field", "value"] for line in lines)


def _words(rows, column: int) -> list[str]:
    return [word for row in rows for word in row[column].split()]


def test_the_narrowest_table_is_exact_to_the_column():
    """Names 19 + kinds 11 + the paper at its 16-column minimum (its longest word, 'High-Resolution', is 15),
    plus four borders and six spaces of padding: 56. At that width rich draws the table exactly that wide,
    every name and kind whole and every word of every title present; one column less gives field/value tables."""
    width = _table_width(_width_ranges(COLUMNS, ROWS, ("paper",)))
    assert width == 19 + 11 + 16 + 4 + 6 == 56
    lines = _print(width)
    assert max(len(line) for line in lines) == width
    text = "\n".join(lines)
    assert "…" not in text and "field" not in lines[1]
    cells = [cell.strip() for line in lines for cell in line.strip("│┃").split("│")]
    for row in ROWS:
        assert row[0] in cells and row[1] in cells
    for word in _words(ROWS, 2):
        assert word in text.split(), word
    narrower = _print(width - 1)
    assert _field_value_tables(narrower) == len(ROWS)


def test_without_prose_columns_a_table_that_does_not_fit_unwrapped_becomes_field_value_tables():
    lines = _print(100, prose=())
    assert _field_value_tables(lines) == len(ROWS)
    assert "…" not in "\n".join(lines)


def test_a_table_that_fits_unwrapped_keeps_each_row_on_one_line():
    lines = _print(200)
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(ROWS)


def test_zoo3d_models_is_one_table_at_130_columns_with_every_model_name_whole(monkeypatch):
    from zoo3d.cli.main import cli

    monkeypatch.setenv("COLUMNS", "130")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert "field" not in result.output and "…" not in result.output
    first_cells = {line.split("│")[1].strip() for line in result.output.splitlines() if line.startswith("│")}
    for name in ("gram", "gram_hd", "gram_inverter", "oracle_inconsistent", "pigan", "stylesdf", "triplane"):
        assert name in first_cells, name
