"""``print_fitting_table`` at its edges: a table exactly as wide as the console stays one table, the title is
printed with it in both layouts, empty cells are left out of the field/value tables, and the narrowest width is
its closed form for an empty column (widths and borders counted by hand: each column adds its width, one space
either side and the border after it, plus the left border)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from zoo3d.cli.tables import _table_width, _width_ranges, print_fitting_table

COLUMNS = ["model", "epi ↓", "note"]
ROWS = [["oracle", "10.0 ± 1.2 (n=4)", ""], ["oracle_inconsistent", "49.9 ± 3 (n=4)", "jittered"]]
#: the widest cell of each column: "oracle_inconsistent" 19, "10.0 ± 1.2 (n=4)" 16, "jittered" 8
FULL_WIDTH = 1 + (19 + 3) + (16 + 3) + (8 + 3)


def _print(width: int, title: str | None = None) -> list[str]:
    out = io.StringIO()
    print_fitting_table(Console(file=out, width=width), COLUMNS, ROWS, title=title)
    return out.getvalue().splitlines()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.replace("┃", "│").split("│")[1:-1]]


def test_a_table_exactly_as_wide_as_the_console_is_one_table_with_its_title_above():
    lines = _print(FULL_WIDTH, title="zoo3d compare")
    assert max(len(line) for line in lines) == FULL_WIDTH
    assert lines[0].strip() == "zoo3d compare"
    body = [_cells(line) for line in lines if line.startswith("│")]
    assert body == ROWS
    assert _cells(next(line for line in lines if line.startswith("┃"))) == COLUMNS


def test_one_column_narrower_gives_the_title_then_a_field_value_table_per_row_without_empty_fields():
    lines = _print(FULL_WIDTH - 1, title="zoo3d compare")
    assert lines[0] == "zoo3d compare"
    headers = [_cells(line) for line in lines if line.startswith("┃")]
    assert headers == [["field", "value"]] * len(ROWS)
    pairs = [_cells(line) for line in lines if line.startswith("│")]
    assert pairs == [["model", "oracle"], ["epi ↓", "10.0 ± 1.2 (n=4)"],  # the first row's empty note left out
                     ["model", "oracle_inconsistent"], ["epi ↓", "49.9 ± 3 (n=4)"], ["note", "jittered"]]


def test_the_narrowest_width_counts_an_empty_cell_as_nothing():
    """A column of empty cells is as wide as its name ("id": 2); the prose column as its 16-column minimum
    (its longest word, "sentence", is 8; its widest cell 23)."""
    rows = [["", "a long sentence of words"], ["", "short"]]
    assert _table_width(_width_ranges(["id", "text"], rows, ("text",))) == 1 + (2 + 3) + (16 + 3)


def test_with_two_prose_columns_no_word_is_split_at_any_width_the_table_fits_in():
    """The narrow column's 20-letter word (a path in an error message, say) stays whole: rich alone narrows the
    widest wrapping columns evenly, which cut it to 18 letters and put the last two on the next line."""
    columns, rows = ["name", "registered", "error"], [["x", " ".join(["word"] * 15), "abcdefghijklmnopqrst"]]
    narrowest = _table_width(_width_ranges(columns, rows, ("registered", "error")))
    assert narrowest == 1 + (4 + 3) + (16 + 3) + (20 + 3)  # 'registered' at its minimum, 'error' at its word
    for width in range(narrowest, narrowest + 40, 3):
        out = io.StringIO()
        print_fitting_table(Console(file=out, width=width), columns, rows, prose=("registered", "error"))
        lines = out.getvalue().splitlines()
        assert max(len(line) for line in lines) <= width and "field" not in out.getvalue(), width
        error_cells = [_cells(line)[2] for line in lines if line.startswith("│")]
        assert [cell for cell in error_cells if cell] == ["abcdefghijklmnopqrst"], (width, error_cells)
        words = [word for line in lines if line.startswith("│") for word in _cells(line)[1].split()]
        assert words == ["word"] * 15, width


#: compare's title of changed settings: 88 columns, wider than the table (69) and than a log file's 80
LONG_TITLE = "zoo3d compare (small protocol changed to neus.iterations=50, epi_frames=10; 4 instances)"


@pytest.mark.parametrize("width", [200, 80], ids=["wide-console", "log-file"])
def test_a_title_wider_than_the_table_is_one_line_above_it(width):
    """compare's title names the settings changed from the protocol; above a table of one metric rich wrapped it
    to the table's width, four centred lines of a sentence metrics.md quotes as one. In a log file (80 columns, which
    the table fits and the title does not) it was broken where the console ended."""
    lines = _print(width, title=LONG_TITLE)
    assert lines[0] == LONG_TITLE and FULL_WIDTH < 80 < len(LONG_TITLE)
    assert lines[1].startswith("┏") and max(len(line) for line in lines[1:]) == FULL_WIDTH
    assert [_cells(line) for line in lines if line.startswith("│")] == ROWS


def test_a_title_wider_than_a_table_of_fitted_prose_columns_is_one_line_above_it():
    """The table whose prose columns were narrowed to fit the console takes its title the same way."""
    columns, rows = ["name", "registered", "error"], [["x", " ".join(["word"] * 15), "abcdefghijklmnopqrst"]]
    width = _table_width(_width_ranges(columns, rows, ("registered", "error"))) + 10
    out = io.StringIO()
    print_fitting_table(Console(file=out, width=width), columns, rows, title=LONG_TITLE, prose=("registered", "error"))
    lines = out.getvalue().splitlines()
    assert lines[0] == LONG_TITLE and lines[1].startswith("┏") and max(len(line) for line in lines[1:]) <= width
    assert [word for line in lines if line.startswith("│") for word in _cells(line)[1].split()] == ["word"] * 15


def test_a_title_wider_than_the_console_is_one_line_above_the_field_value_tables():
    """In a log file, which rich takes as 80 columns, the title was broken where the console ended."""
    lines = _print(FULL_WIDTH - 1, title=LONG_TITLE)
    assert lines[0] == LONG_TITLE
    assert [_cells(line) for line in lines if line.startswith("┃")] == [["field", "value"]] * len(ROWS)
