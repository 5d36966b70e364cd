"""Tables for the terminal that stay readable when they are wider than it."""

from __future__ import annotations

#: the narrowest a wrapping column may get before the table gives way to one field/value table per row
MIN_PROSE_WIDTH = 16


def print_fitting_table(console, columns: list[str], rows: list[list[str]], title: str | None = None,
                        prose: tuple[str, ...] = (), styled: tuple[str, ...] = ()) -> None:
    """``rows`` under ``columns`` as one table when it fits ``console``; otherwise one field/value table per
    row. Rich squeezes a table wider than the console (many metrics, or output to a file, which it takes as
    80 columns) until every name and value is a letter and an ellipsis. Columns named in ``prose`` (titles,
    error messages, lists) may wrap onto several lines at word boundaries, each kept as wide as its
    longest word and at least ``MIN_PROSE_WIDTH`` (or its widest cell, if narrower); every other column is
    printed whole. Cells and the title are plain text, printed as they are (an error's ``[int]`` or a path's ``[/x]``
    too, or a ``--set`` value in compare's title), but in the columns named in ``styled``, whose cells are rich markup
    (a coloured status)."""
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    rows = [[cell if name in styled else escape(cell) for name, cell in zip(columns, row)] for row in rows]
    title = None if title is None else escape(title)

    table = Table(title=title)
    for name in columns:
        table.add_column(name, no_wrap=name not in prose, overflow="fold" if name in prose else "ellipsis")
    for row in rows:
        table.add_row(*row)
    unbounded = console.options.update(width=2**20)  # measured as if the console were endless
    natural = Measurement.get(console, unbounded, table).maximum
    if natural <= console.width:
        _print_titled(console, table, natural)
        return
    ranges = _width_ranges(columns, rows, prose) if prose else []
    if prose and _table_width(ranges) <= console.width:
        widths = _fitted_widths(ranges, columns, prose, console.width)
        for column, width in zip(table.columns, widths):
            column.width = width
        _print_titled(console, table, 1 + sum(width + 3 for width in widths))
        return
    if title:
        console.print(title, soft_wrap=True)
    for row in rows:
        one = Table("field", "value")
        for column, value in zip(columns, row):
            if value != "":
                one.add_row(column, value)
        console.print(one)


def _print_titled(console, table, width: int) -> None:
    """``table``, drawn ``width`` columns wide, under its title: rich wraps a title to the table's width, so a title
    wider than the table (compare's, naming its protocol's changed settings, above a table of one or two metrics)
    is printed on a line of its own above it, whole, as above the field/value tables."""
    from rich.cells import cell_len

    if table.title is not None and cell_len(str(table.title)) > width:
        console.print(table.title, soft_wrap=True)
        table.title = None
    console.print(table)


def _table_width(ranges: list[tuple[int, int]]) -> int:
    """Console columns a table takes with each column at the narrowest of its (narrowest, widest) ``ranges`` (with
    :func:`_width_ranges`: only the prose columns wrap, the others at their widest cell): the left border, then
    each column's padding (one space either side) and the border after it."""
    return 1 + sum(narrowest + 3 for narrowest, _ in ranges)


def _fitted_widths(ranges: list[tuple[int, int]], columns: list[str], prose: tuple[str, ...],
                   width: int) -> list[int]:
    """Each column's width in a table ``width`` console columns wide that is wider unwrapped: every column at its
    narrowest, then the spare columns handed to the prose columns one at a time, each up to its widest cell.
    Left to itself rich narrows the widest wrapping columns evenly, which splits a long word (a path in an error)
    of a narrower prose column even where the table fits with every word whole."""
    widths = [narrowest for narrowest, _ in ranges]
    spare = width - _table_width(ranges)
    growing = [i for i, name in enumerate(columns) if name in prose]
    while spare > 0 and growing:
        growing = [i for i in growing if widths[i] < ranges[i][1]]
        for i in growing[:spare]:
            widths[i] += 1
            spare -= 1
    return widths


def _width_ranges(columns: list[str], rows: list[list[str]], prose: tuple[str, ...]) -> list[tuple[int, int]]:
    """(narrowest, widest) width of each column's text: a prose column's narrowest is its longest word (at least
    ``MIN_PROSE_WIDTH`` or its widest cell); any other column is its widest line at both ends."""
    from rich.cells import cell_len
    from rich.text import Text

    ranges = []
    for i, name in enumerate(columns):
        cells = [name] + [Text.from_markup(row[i]).plain for row in rows]
        if name in prose:
            longest_word = max((cell_len(word) for cell in cells for word in cell.split()), default=0)
            widest = max(cell_len(cell) for cell in cells)
            ranges.append((max(min(MIN_PROSE_WIDTH, widest), longest_word), widest))
        else:
            width = max(cell_len(line) for cell in cells for line in (cell.splitlines() or [""]))
            ranges.append((width, width))
    return ranges
