"""Why a cell reads "n/a" is said under the printed table and the Markdown report's table, one line per model and
reason: it was in the JSON's ``not_applicable`` alone, so a reader of the table could not tell a model without depth
from a metric that failed."""

from __future__ import annotations

import json

from conftest import run_in_process as zoo3d
from zoo3d.eval.calibration import TexturedSphereGenerator
from zoo3d.eval.metric import EvalModel


class NoDepth(TexturedSphereGenerator):
    """The textured sphere with its depth map taken away: ``depth`` cannot score it."""

    def render(self, rep, cameras, resolution=None):
        out = super().render(rep, cameras, resolution)
        out.depth = None
        return out


def _models(monkeypatch):
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "flat": NoDepth(True)}
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, gens[name], ckpt))
    monkeypatch.setenv("COLUMNS", "200")


def test_the_reason_for_n_a_follows_the_table_and_is_in_the_report(tmp_path, monkeypatch, capsys):
    _models(monkeypatch)
    out, md = tmp_path / "res.json", tmp_path / "report.md"
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle,flat", "--metric", "depth", "--instances", "1",
                              "--resolution", "16", "--set", "depth_views=2", "--device", "cpu", "--json", out,
                              "--markdown", md)
    assert code == 0, err
    reason = json.loads(out.read_text())["models"]["flat"]["depth"]["not_applicable"]
    assert reason == "flat renders no depth/alpha"  # what zoo3d/eval/depth.py raises for a model without depth
    lines = stdout.splitlines()
    flat_row = next(i for i, line in enumerate(lines) if line.startswith("│ flat"))
    assert "n/a" in lines[flat_row]
    footnotes = [line for line in lines if line.startswith("n/a")]
    assert footnotes == ["n/a: depth of flat: flat renders no depth/alpha"]  # one, for the one n/a cell
    assert lines.index(footnotes[0]) > flat_row + 1  # under the table, past its bottom edge
    report = md.read_text(encoding="utf-8").splitlines()
    table_end = max(i for i, line in enumerate(report) if line.startswith("| flat"))
    assert report[table_end + 1:table_end + 3] == ["", "- n/a: depth of flat: flat renders no depth/alpha"]


def test_a_table_without_n_a_has_no_footnote(tmp_path, monkeypatch, capsys):
    _models(monkeypatch)
    md = tmp_path / "report.md"
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "depth", "--instances", "1",
                              "--resolution", "16", "--set", "depth_views=2", "--device", "cpu", "--markdown", md)
    assert code == 0, err
    assert not any("n/a" in line for line in stdout.splitlines() + md.read_text(encoding="utf-8").splitlines())


def test_a_reason_holding_brackets_is_printed_as_written(tmp_path, monkeypatch, capsys):
    """The footnote is text, not rich markup: a model named ``flat[v2]`` keeps its brackets in it, and in the line
    that says what it is scored from."""
    import zoo3d.eval.harness as harness

    gens = {"oracle": TexturedSphereGenerator(True), "flat[v2]": NoDepth(True)}
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, gens[name], ckpt))
    monkeypatch.setenv("COLUMNS", "200")
    md = tmp_path / "r[v2].md"
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle,flat[v2]", "--metric", "depth", "--instances",
                              "1", "--resolution", "16", "--set", "depth_views=2", "--device", "cpu", "--markdown", md)
    assert code == 0, err
    assert [line for line in stdout.splitlines() if line.startswith("n/a")] == [
        "n/a: depth of flat[v2]: flat[v2] renders no depth/alpha"]
    said = " ".join(err.split())
    assert f"wrote {md}" in said and "scoring flat[v2]: no checkpoint (it needs none)" in said
