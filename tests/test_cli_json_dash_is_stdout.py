"""``--json -`` prints the JSON on stdout, the Unix convention, for ``zoo3d compare`` and ``zoo3d bench``: it wrote a
file named ``-`` in the working folder and said ``wrote -``. The table goes to stderr then, so stdout is the JSON
alone and a pipe (``zoo3d compare … --json - | jq``) parses it; ``./-`` still names a file. ``compare --markdown -``
(a report with an images folder beside it) is refused. The JSON is checked against the result the stand-in harness
returned and the records the stand-in suite made."""

from __future__ import annotations

import json
import sys
import types

import pytest

import zoo3d.cli.bench as bench_cli
from conftest import run_in_process as zoo3d
from zoo3d.eval.metric import EvalModel

RESULT = {"models": {"oracle": {"epi": {"mean": 2.5, "std": 0.5, "n": 2, "values": [2.0, 3.0]}}},
          "protocol": {"name": "small"}, "provenance": {"oracle": {"checkpoint": None, "sha256": None}},
          "higher_is_better": {"epi": False}, "notes": ["a note"], "evidence": {}}


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    """No model is built or scored: the comparison returns ``RESULT``; the commands run in ``tmp_path``."""
    import zoo3d.eval.harness as harness

    monkeypatch.setattr(harness, "load_eval_model", lambda name, *a: EvalModel(name, None))
    monkeypatch.setattr(harness, "compare_models", lambda *a, **kw: json.loads(json.dumps(RESULT)))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_compare_json_dash_prints_the_json_alone_on_stdout_and_the_table_on_stderr(stand_in, capsys):
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--json", "-")
    assert code == 0, err
    assert json.loads(out) == RESULT
    assert list(stand_in.iterdir()) == []  # no file named '-'
    assert "2.5 ± 0.5 (n=2)" in err and "note: a note" in err and "wrote" not in err


def test_compare_json_dot_slash_dash_is_a_file_named_dash(stand_in, capsys):
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--json", "./-")
    assert code == 0, err
    assert json.loads((stand_in / "-").read_text()) == RESULT
    assert "2.5 ± 0.5 (n=2)" in out and "wrote ./-" in err.splitlines()


def test_compare_markdown_dash_is_refused_before_any_model_loads(stand_in, capsys, monkeypatch):
    import zoo3d.eval.harness as harness

    monkeypatch.setattr(harness, "load_eval_model", lambda *a: pytest.fail("a model was loaded"))
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--markdown", "-")
    assert code == 2 and out == ""
    assert err.strip() == ("Error: --markdown '-' would name a file '-' and its images folder '-_images'; give the "
                           "report a file name (--json - prints the results on stdout).")
    assert list(stand_in.iterdir()) == []


def test_bench_json_dash_prints_the_records_alone_on_stdout(monkeypatch, tmp_path, capsys):
    module = types.ModuleType("zoo3d.benchmarks.fake")
    module.run = lambda device, quick: [{"name": "a", "ms": 1.5}]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_cli, "available_suites", lambda: ["fake"])
    monkeypatch.chdir(tmp_path)
    code, out, err = zoo3d(capsys, "bench", "fake", "--device", "cpu", "--json", "-")
    assert code == 0, err
    records = json.loads(out)
    assert [{k: v for k, v in r.items() if k != "environment"} for r in records] == [
        {"suite": "fake", "name": "a", "ms": 1.5}]
    assert "1.5" in err and "wrote" not in err
    assert list(tmp_path.iterdir()) == []
