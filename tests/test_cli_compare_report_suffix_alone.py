"""A report named by its suffix alone (``--json .json``, as ``--json "$name.json"`` reads with an empty ``$name``) is
refused before any model loads, as ``sample --out .png`` is (docs/errors.md): ``zoo3d compare`` wrote a hidden
``.json`` (and ``--markdown .md`` a hidden ``.md`` with a ``.md_images`` folder) and said ``wrote .json``; ``zoo3d
bench`` wrote its records there after every suite had run."""

from __future__ import annotations

import sys
import types

import pytest

import zoo3d.cli.bench as bench_cli
from conftest import run_in_process as zoo3d


@pytest.fixture
def here(tmp_path, monkeypatch):
    import zoo3d.eval.harness as harness

    monkeypatch.setattr(harness, "load_eval_model", lambda *a: pytest.fail("a model was loaded"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    return tmp_path


@pytest.mark.parametrize("option, path, said", [
    ("--json", ".json", "Cannot write --json report '.json': the file name is the suffix alone; name it, e.g. "
                        "'results.json'."),
    ("--json", "sub/.JSON", "Cannot write --json report 'sub/.JSON': the file name is the suffix alone; name it, "
                            "e.g. 'results.JSON'."),
    ("--markdown", ".md", "Cannot write --markdown report '.md': the file name is the suffix alone; name it, e.g. "
                          "'report.md'."),
    ("--markdown", ".Markdown", "Cannot write --markdown report '.Markdown': the file name is the suffix alone; name "
                                "it, e.g. 'report.Markdown'."),
])
def test_compare_refuses_a_report_named_by_its_suffix_alone(here, capsys, option, path, said):
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", option, path)
    assert (code, out, err.strip()) == (2, "", f"Error: {said}")
    assert sorted(p.name for p in here.rglob("*")) == ["sub"]


def test_bench_refuses_records_named_by_their_suffix_alone_before_any_suite_runs(here, capsys, monkeypatch):
    module = types.ModuleType("zoo3d.benchmarks.fake")
    module.run = lambda device, quick: pytest.fail("a suite ran")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: ["fake"])
    code, out, err = zoo3d(capsys, "bench", "fake", "--device", "cpu", "--json", ".json")
    assert (code, out, err.strip()) == (2, "", "Error: Cannot write --json records '.json': the file name is the "
                                               "suffix alone; name it, e.g. 'bench.json'.")
    assert sorted(p.name for p in here.rglob("*")) == ["sub"]


@pytest.mark.parametrize("path", [".results.json", "sub/.run2.md", "ajson", "xmd"])
def test_a_hidden_report_with_a_name_or_a_name_without_a_dot_is_not_the_suffix_alone(path):
    """Only a name that is the dot and the suffix is refused: a hidden file named by the user and a name without any
    dot that happens to end in the suffix's letters are written as given."""
    from zoo3d.cli.compare import check_not_suffix_alone

    check_not_suffix_alone("--json report", path, ("json", "md"), "results")
