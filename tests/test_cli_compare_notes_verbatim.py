"""``zoo3d compare`` printed its notes and the ``wrote PATH`` lines through rich markup: a ``--data`` folder or a
report named with a bracketed word (``heads[v2]``) lost it in the note, and one holding a closing tag
(``heads[/v2]``) stopped the command with a MarkupError after every metric had run and before the reports were
written. They are printed as written."""

from __future__ import annotations

import json

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import EvalModel


def test_notes_and_report_paths_are_printed_as_written(tmp_path, monkeypatch, capsys):
    import zoo3d.eval.harness as harness

    monkeypatch.setattr(harness, "load_eval_model", lambda name, *a: EvalModel(name, TexturedSphereGenerator(True)))
    monkeypatch.setenv("COLUMNS", "400")  # no line of it wrapped, the long temporary paths included
    data = tmp_path / "heads[/v2]"
    code, _, err = zoo3d(capsys, "data", "synth", "--count", 2, "--resolution", 32, "--out", data)
    assert code == 0, err
    report = tmp_path / "r[v2].json"
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "detail", "--data", data,
                         "--resolution", 16, "--set", "distribution_images=4", "--json", report)
    assert code == 0, err
    said = " ".join(err.split())
    note = f"note: dataset '{data}' holds 2 images, fewer than the protocol's 4"
    assert note in said and f"wrote {report}" in said, said
    assert json.loads(report.read_text())["notes"] == [note[len("note: "):] + ": the distribution metrics' real set "
                                                      "is those 2."]
