"""``zoo3d bench`` prints every record's fields in full, however many fields a suite reports.

A table with a column per field, squeezed into a console too narrow for it (the zoo suite's twenty-odd
metrics, or any output to a file, where rich assumes 80 columns), cuts every name and value to an
ellipsis; the command then prints one field/value table per record instead.
"""

from __future__ import annotations

import sys
import types

from click.testing import CliRunner

import zoo3d.cli.bench as bench_cli


def _install_suite(monkeypatch, name: str, records: list[dict]) -> None:
    """A suite module ``zoo3d.benchmarks.<name>`` returning ``records``, the only one the command knows."""
    suite = types.ModuleType(f"zoo3d.benchmarks.{name}")
    suite.run = lambda device, quick: [dict(r) for r in records]
    monkeypatch.setitem(sys.modules, suite.__name__, suite)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: [name])


def _run(name: str) -> str:
    from zoo3d.cli.main import cli

    result = CliRunner().invoke(cli, ["bench", name, "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_record_with_many_fields_is_printed_with_every_name_and_value_whole(monkeypatch):
    records = [{"model": f"model_{i}", **{f"metric_number_{j}": 1000 + 10 * i + j for j in range(20)},
                "repeats": [1, 2, 3]} for i in range(2)]
    _install_suite(monkeypatch, "wide", records)
    out = _run("wide")
    words = set(out.split())
    for r in records:
        for key, value in r.items():
            if key == "repeats":  # nested values go to --json only
                assert key not in words
                continue
            assert key in words and str(value) in words, (key, value)
    assert "…" not in out


def test_a_record_that_fits_is_one_table_with_a_column_per_field(monkeypatch):
    _install_suite(monkeypatch, "narrow", [{"images_per_s": 3.5, "batch": 4}, {"images_per_s": 7.25, "batch": 8}])
    out = _run("narrow").splitlines()
    header = next(line for line in out if "images_per_s" in line)
    assert "batch" in header and "suite" in header  # one header row names every field
    rows = [line.split() for line in out if "narrow" in line and "images_per_s" not in line
            and not line.startswith("command: ")]
    assert [[w for w in row if w not in "│┃"] for row in rows] == [["narrow", "3.5", "4"], ["narrow", "7.25", "8"]]


def test_every_listed_suite_runs_and_helpers_are_not_suites():
    """``zoo3d bench`` with no names runs every listed suite: a helper module listed with them (``source``,
    which has no ``run``) stopped that run part-way with an AttributeError and no JSON written."""
    import importlib

    suites = bench_cli.available_suites()
    assert {"render", "models", "peers", "zoo"} <= set(suites) and "source" not in suites
    for name in suites:
        assert callable(importlib.import_module(f"zoo3d.benchmarks.{name}").run), name


def test_naming_a_helper_module_is_refused_as_an_unknown_suite():
    from zoo3d.cli.main import cli
    from zoo3d.errors import UserError

    result = CliRunner().invoke(cli, ["bench", "source", "--device", "cpu"])
    assert isinstance(result.exception, UserError) and "Unknown benchmark suite 'source'" in str(result.exception)
