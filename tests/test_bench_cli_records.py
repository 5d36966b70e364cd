"""``zoo3d bench``: which suites run, what each is handed, and the ``--json`` records with their environment.

docs/testing.md, "Benchmarks": ``zoo3d bench [SUITE …] [--device D] [--quick] [--json FILE]`` runs the named suites,
or every suite but ``zoo`` when none is named; a suite is a module of ``zoo3d/benchmarks/`` with a ``run(device,
quick)`` function; every record ``--json`` writes carries ``environment``: Python, torch (and CUDA and the GPU's
name), the CPU, torch's thread count, the cores the process may use, the digest of the code that ran and the
1-minute load average before and after the suites, whether it was a ``--quick`` run and the ``ZOO3D_*`` settings; the
printed table is followed by a line naming where it ran and the load, and a quick run's saying so.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import types

import pytest
import torch
from click.testing import CliRunner

import zoo3d.cli.bench as bench_cli
from zoo3d.errors import UserError


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """A console wide enough that rich never folds a long temporary path across lines."""
    monkeypatch.setenv("COLUMNS", "500")


def _suites(monkeypatch, **suites: dict) -> list[tuple[str, str, object]]:
    """Suite modules ``zoo3d.benchmarks.<name>`` (``{"records": [...], "by_default": bool or absent}``), the only
    ones the command knows, in the order given; returns the calls their ``run`` gets."""
    calls: list[tuple[str, str, object]] = []
    for name, spec in suites.items():
        module = types.ModuleType(f"zoo3d.benchmarks.{name}")
        module.run = lambda device, quick, name=name, spec=spec: calls.append((name, device, quick)) or \
            [dict(r) for r in spec.get("records", [])]
        if "by_default" in spec:
            module.RUN_BY_DEFAULT = spec["by_default"]
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: list(suites))
    return calls


def _invoke(*args: str):
    return CliRunner().invoke(bench_cli.bench, list(args))


def test_without_names_every_suite_runs_in_order_but_those_that_ask_not_to(monkeypatch):
    calls = _suites(monkeypatch, hours={"by_default": False}, plain={}, marked={"by_default": True})
    assert _invoke("--device", "cpu").exit_code == 0
    assert calls == [("plain", "cpu", False), ("marked", "cpu", False)]  # a suite without the flag runs too
    calls.clear()
    assert _invoke("marked", "hours", "--quick", "--device", "cpu").exit_code == 0
    assert calls == [("marked", "cpu", True), ("hours", "cpu", True)]  # named: in the order named, `hours` too


def test_the_device_given_is_the_one_resolved_from_the_option(monkeypatch):
    calls = _suites(monkeypatch, one={})
    assert _invoke("--device", "meta").exit_code == 0  # a device `auto` never resolves to
    assert calls == [("one", "meta", False)]
    result = _invoke("--device", "tpu")
    assert isinstance(result.exception, UserError) and "Unknown device 'tpu'" in str(result.exception)
    assert calls == [("one", "meta", False)]  # refused before any suite runs


def test_an_unknown_suite_is_refused_with_the_list_of_suites(monkeypatch):
    calls = _suites(monkeypatch, alpha={}, beta={})
    result = _invoke("alpha", "gamma", "--device", "cpu")
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == "Unknown benchmark suite 'gamma'; available: alpha, beta."
    assert calls == []  # refused before the named suite that exists runs
    _suites(monkeypatch)
    assert str(_invoke("alpha", "--device", "cpu").exception) == "Unknown benchmark suite 'alpha'; available: none."


def test_the_json_records_carry_their_suite_and_where_they_were_taken(monkeypatch, tmp_path):
    from zoo3d.benchmarks.source import source_digest

    _suites(monkeypatch, first={"records": [{"name": "a", "ms": 1.5}, {"name": "b", "ms": None}]},
            second={"records": [{"name": "c", "repeats": [1, 2]}]})
    out = tmp_path / "bench.json"
    result = _invoke("first", "second", "--device", "cpu", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).endswith(f"wrote 3 records to {out}")
    records = json.loads(out.read_text())
    env = records[0]["environment"]
    assert [{k: v for k, v in r.items() if k != "environment"} for r in records] == [
        {"suite": "first", "name": "a", "ms": 1.5}, {"suite": "first", "name": "b", "ms": None},
        {"suite": "second", "name": "c", "repeats": [1, 2]}]
    assert all(r["environment"] == env for r in records)  # each record can be read alone
    with open("/proc/cpuinfo") as fh:
        cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    load = env.pop("load_avg_1min")
    assert env.pop("command").endswith(f"zoo3d bench first second --device cpu --json {out}")
    assert env.pop("quick") is False and env.pop("zoo3d_settings") == {
        k: v for k, v in sorted(os.environ.items()) if k.startswith("ZOO3D_")}
    assert env == {"python": platform.python_version(), "torch": torch.__version__, "cpu": cpu,
                   "torch_threads": torch.get_num_threads(), "usable_cores": len(os.sched_getaffinity(0)),
                   "source_digest": source_digest()}  # on a CPU: no cuda or gpu
    assert sorted(load) == ["end", "start"] and all(v >= 0 for v in load.values())


@pytest.fixture
def machine(monkeypatch):
    """A fixed environment, and a load average that rises from 1.5 (before the suites) to 3.25 (after them)."""
    import zoo3d.benchmarks.source as source

    monkeypatch.setattr(source, "environment", lambda device: {"cpu": "Chip X", "torch_threads": 1,
                                                               "usable_cores": 2, "source_digest": "d"})
    loads = iter([(1.5, 0.5, 0.25), (3.254, 2.0, 1.0)])
    monkeypatch.setattr(os, "getloadavg", lambda: next(loads))


def test_the_table_is_followed_by_where_it_ran_and_the_load_before_and_after(monkeypatch, machine, tmp_path):
    _suites(monkeypatch, one={"records": [{"name": "a", "ms": 1.5}]})
    out = tmp_path / "bench.json"
    result = _invoke("one", "--device", "cpu", "--json", str(out))
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert lines[-2:] == ["ran on Chip X, 2 usable cores, 1 torch thread, 1-minute load average 1.5 at the start, "
                          "3.25 at the end", f"wrote 1 record to {out}"]
    (record,) = json.loads(out.read_text())
    env = record["environment"]
    assert env.pop("zoo3d_settings") == {k: v for k, v in sorted(os.environ.items()) if k.startswith("ZOO3D_")}
    assert env.pop("command").endswith(f"zoo3d bench one --device cpu --json {out}")
    assert env == {"cpu": "Chip X", "torch_threads": 1, "usable_cores": 2, "source_digest": "d",
                   "load_avg_1min": {"start": 1.5, "end": 3.25}, "quick": False}


def test_a_quick_run_says_so_and_its_records_carry_it_with_the_settings_the_suites_read(monkeypatch, machine,
                                                                                        tmp_path):
    for name in [k for k in os.environ if k.startswith("ZOO3D_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZOO3D_PEERS_REPEATS", "2")
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", "/src/GRAM")
    _suites(monkeypatch, one={"records": [{"name": "a"}]})
    out = tmp_path / "bench.json"
    result = _invoke("one", "--quick", "--device", "cpu", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).endswith(
        "ran on Chip X, 2 usable cores, 1 torch thread, 1-minute load average 1.5 at the start, 3.25 at the end; "
        f"--quick: a smoke run, not for the record wrote 1 record to {out}")
    (record,) = json.loads(out.read_text())
    assert record["environment"]["quick"] is True
    assert record["environment"]["zoo3d_settings"] == {"ZOO3D_PEERS_REPEATS": "2", "ZOO3D_UPSTREAM_GRAM": "/src/GRAM"}


def test_where_it_ran_is_printed_without_json_and_names_the_gpu(monkeypatch, machine):
    import zoo3d.benchmarks.source as source

    monkeypatch.setattr(source, "environment", lambda device: {"cpu": "Chip X", "gpu": "Card Y", "torch_threads": 4,
                                                               "usable_cores": 1, "source_digest": "d"})
    _suites(monkeypatch, one={"records": [{"name": "a"}]})
    result = _invoke("one", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).endswith(
        "ran on Card Y with Chip X, 1 usable core, 4 torch threads, 1-minute load average 1.5 at the start, 3.25 at "
        "the end")


def test_without_a_load_average_the_line_leaves_it_out(monkeypatch, machine):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    _suites(monkeypatch, one={"records": [{"name": "a"}]})
    result = _invoke("one", "--device", "cpu")
    assert " ".join(result.output.split()).endswith("ran on Chip X, 2 usable cores, 1 torch thread")


def test_no_records_print_no_table_and_a_json_file_of_none(monkeypatch, tmp_path):
    _suites(monkeypatch, empty={})
    out = tmp_path / "none.json"
    result = _invoke("empty", "--device", "cpu", "--json", str(out))
    assert result.exit_code == 0 and json.loads(out.read_text()) == []
    assert result.output.split() == ["wrote", "0", "records", "to", str(out)]


def test_a_json_file_that_cannot_be_written_is_named_as_the_benchmark_records_before_any_suite(monkeypatch, tmp_path):
    calls = _suites(monkeypatch, one={"records": [{"x": 1}]})
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "bench.json"
    result = _invoke("one", "--device", "cpu", "--json", str(out))
    assert result.exit_code != 0
    assert str(result.exception) == (f"Cannot write benchmark records '{out}': '{tmp_path / 'file'}' is a file, "
                                     "not a folder.")
    assert calls == []  # refused before the suites ran, not after their hours


def test_the_printed_table_has_every_flat_field_in_first_seen_order(monkeypatch):
    import zoo3d.cli.tables as tables

    seen = []
    monkeypatch.setattr(tables, "print_fitting_table", lambda console, keys, rows: seen.append((keys, rows)))
    records = [{"suite": "s", "a": 0.000123456, "nested": {"x": 1}, "b": None},
               {"suite": "s", "c": 12345.678, "a": 3, "listed": [1], "flag": True}]
    bench_cli.print_records(None, records)
    assert seen == [(["suite", "a", "b", "c", "flag"],
                     [["s", "0.0001235", "", "", ""], ["s", "3", "", "1.235e+04", "True"]])]


@pytest.mark.parametrize("value, text", [(3.14159265, "3.142"), (2.0, "2"), (None, ""), (7, "7"), ("cpu", "cpu"),
                                         (False, "False")])
def test_a_value_is_printed_to_four_significant_figures_or_as_it_is(value, text):
    assert bench_cli._fmt(value) == text


def test_suites_are_the_public_modules_with_a_run(monkeypatch):
    """A module whose name starts with ``_`` is private, even with a ``run``; one without ``run`` is a helper."""
    import pkgutil

    fakes = {"_private": True, "helper": False, "zeta": True, "alpha": True}
    for name, has_run in fakes.items():
        module = types.ModuleType(f"zoo3d.benchmarks.{name}")
        if has_run:
            module.run = lambda device, quick: []
        monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(pkgutil, "iter_modules", lambda path: [types.SimpleNamespace(name=n) for n in fakes])
    assert bench_cli.available_suites() == ["alpha", "zeta"]


@pytest.mark.parametrize("to_stdout", [False, True])
def test_a_suite_whose_records_are_not_whole_has_them_written_and_the_command_ends_naming_it(monkeypatch, tmp_path,
                                                                                            to_stdout):
    """A suite raising Incomplete (``zoo``: a metric failed on a model) keeps its records; the suites after it run;
    the sentence is the last line, on stderr, and the status 1."""
    from zoo3d.benchmarks import Incomplete

    calls = _suites(monkeypatch, after={"records": [{"name": "b"}]})
    module = types.ModuleType("zoo3d.benchmarks.partial")
    module.run = lambda device, quick: calls.append(("partial", device, quick)) or (_ for _ in ()).throw(
        Incomplete("breaks of x failed; the rest is in zoo.md.", [{"name": "a", "failed": "breaks"}]))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: ["partial", "after"])
    out = "-" if to_stdout else str(tmp_path / "bench.json")
    result = CliRunner().invoke(bench_cli.bench, ["partial", "after", "--device", "cpu", "--json", out])
    assert result.exit_code == 1 and [c[0] for c in calls] == ["partial", "after"]
    assert result.output.splitlines()[-1] == result.stderr.splitlines()[-1] == (
        "Error: partial: breaks of x failed; the rest is in zoo.md.")
    text = result.stdout if to_stdout else open(out).read()  # `--json -`: stdout is the JSON alone
    assert [{k: v for k, v in r.items() if k != "environment"} for r in json.loads(text)] == [
        {"suite": "partial", "name": "a", "failed": "breaks"}, {"suite": "after", "name": "b"}]


def test_the_table_is_headed_by_the_command_that_took_it_and_the_records_carry_it(monkeypatch, machine, tmp_path):
    """The settings the suites read first (a value with a space quoted), then the suites and options as given."""
    for name in [k for k in os.environ if k.startswith("ZOO3D_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM", "/src/my GRAM")
    monkeypatch.setenv("ZOO3D_BENCH_CPU_MEM_GB", "4")
    _suites(monkeypatch, one={"records": [{"name": "a"}]}, two={"records": [{"name": "b"}]})
    out = tmp_path / "bench.json"
    result = _invoke("two", "one", "--quick", "--json", str(out))
    command = (f"ZOO3D_BENCH_CPU_MEM_GB=4 ZOO3D_UPSTREAM_GRAM='/src/my GRAM' zoo3d bench two one --quick --device auto "
               f"--json {out}")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"command: {command}"
    assert {r["environment"]["command"] for r in json.loads(out.read_text())} == {command}
    assert bench_cli.bench_command((), "cpu", False, None, {}) == "zoo3d bench --device cpu"
