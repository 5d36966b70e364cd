"""Tables for the terminal that stay readable when they are wider than it."""

from __future__ import annotations


def print_fitting_table(console, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """``rows`` under ``columns`` as one table when it fits ``console`` unwrapped; otherwise one
    field/value table per row. Rich squeezes a table wider than the console (many metrics, or output to a
    file, which it takes as 80 columns) until every name and value is a letter and an ellipsis."""
    from rich.measure import Measurement
    from rich.table import Table

    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    unbounded = console.options.update(width=2**20)  # measured as if the console were endless
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    if title:
        console.print(title)
    for row in rows:
        one = Table("field", "value")
        for column, value in zip(columns, row):
            if value != "":
                one.add_row(column, value)
        console.print(one)
