"""``--json`` and ``--markdown`` naming one file: the comparison ran, printed ``wrote X`` twice and exited 0, and X
held the Markdown report, the JSON results gone. A ``--json`` named like the report's images folder could not be
written over the folder the metrics had filled, after the whole comparison. Both are refused before any model loads,
as docs/errors.md promises for outputs that cannot be made."""

from __future__ import annotations

import json

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.eval.metric import EvalModel

RESULT = {"models": {"oracle": {"epi": {"mean": 2.5, "std": 0.5, "n": 2, "values": [2.0, 3.0]}}},
          "protocol": {"name": "small"}, "provenance": {"oracle": {"checkpoint": None, "sha256": None,
                                                                    "resolution": 16, "seeds": [0, 1]}},
          "higher_is_better": {"epi": False}, "notes": [], "evidence": {}}


def _stand_in(monkeypatch) -> list:
    """No model is built or scored: every load is recorded and the comparison returns ``RESULT``."""
    import zoo3d.eval.harness as harness

    loads: list = []
    monkeypatch.setattr(harness, "load_eval_model", lambda name, *a: loads.append(name) or EvalModel(name, None))
    monkeypatch.setattr(harness, "compare_models", lambda *a, **kw: json.loads(json.dumps(RESULT)))
    return loads


@pytest.mark.parametrize("json_name, md_name", [("res.out", "res.out"), ("./res.out", "res.out"),
                                                ("sub/../res.md", "res.md")])
def test_one_file_for_both_reports_is_refused_before_any_model_loads(json_name, md_name, tmp_path, monkeypatch,
                                                                      capsys):
    loads = _stand_in(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--json", json_name,
                           "--markdown", md_name)
    assert code == 2 and loads == [] and out == "", err
    assert err.strip() == (f"Error: --json '{json_name}' and --markdown '{md_name}' name one file, and the report "
                           f"would replace the results; give each a file of its own."), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # neither report, no images folder


def test_a_json_named_like_the_reports_images_folder_is_refused(tmp_path, monkeypatch, capsys):
    loads = _stand_in(monkeypatch)
    report, results = tmp_path / "rep.md", tmp_path / "rep_images"
    code, out, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--json", results,
                           "--markdown", report)
    assert code == 2 and loads == [] and out == "", err
    assert err.strip() == (f"Error: --json '{results}' is the folder --markdown '{report}' writes its images into; "
                           f"give the JSON another name."), err
    assert list(tmp_path.iterdir()) == []


def test_two_files_of_their_own_each_hold_their_report(tmp_path, monkeypatch, capsys):
    _stand_in(monkeypatch)
    results, report = tmp_path / "res.json", tmp_path / "res.md"
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "epi", "--json", results,
                         "--markdown", report)
    assert code == 0, err
    assert json.loads(results.read_text())["models"] == RESULT["models"]
    assert "| oracle | 2.5 ± 0.5 (n=2) |" in report.read_text().splitlines()
