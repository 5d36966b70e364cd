"""A metric that raises on a model (out of memory, a plugin's bug) fails that model's cells of it alone: the other
metrics and models are scored, the table and the reports name what failed and where, and ``zoo3d compare`` exits 1
after writing them, where the exception stopped the comparison with a traceback and every number was lost."""

from __future__ import annotations

import json

import pytest

from conftest import run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.eval import harness
from zoo3d.eval.metric import EvalModel, Metric
from zoo3d.eval.protocol import make_protocol


class Counts(Metric):
    """Each model's instance seeds plus one, one instance at a time."""
    name, higher_is_better = "counts", True

    def evaluate(self, model, ctx):
        values = []
        for seed in ctx.seeds:
            values.append(seed + 1.0)
            ctx.advance(1)
        return {"counts": values}


class Breaks(Metric):
    """Scores the first instance of every model, then raises ``error`` on the models named in ``on``."""
    name, keys, higher_is_better = "breaks", ("breaks_a", "breaks_b"), False

    def __init__(self, on: tuple[str, ...], error: Exception):
        self.on, self.error = on, error

    def evaluate(self, model, ctx):
        ctx.advance(1)
        if model.name in self.on:
            raise self.error
        ctx.advance(len(ctx.seeds) - 1)
        return {"breaks_a": [2.0] * len(ctx.seeds), "breaks_b": [3.0] * len(ctx.seeds)}


def _compare(metric: Metric, steps: list[int] | None = None) -> dict:
    models = [EvalModel("a", None), EvalModel("b", None), EvalModel("c", None)]
    metrics = {"breaks": metric, "counts": Counts()}
    return harness.compare_models(models, metrics, make_protocol("small", instances=3), "cpu",
                                  progress=None if steps is None else steps.append)


def test_a_metric_that_raises_on_one_model_fails_its_cells_and_the_rest_is_scored():
    steps: list[int] = []
    result = _compare(Breaks(("b",), RuntimeError("out of memory\nsecond line")), steps)
    failed = {"mean": None, "std": None, "n": 0, "values": [],
              "failed": f"RuntimeError: out of memory ({__file__}:{Breaks.evaluate.__code__.co_firstlineno + 3})"}
    assert result["models"]["b"] == {"breaks_a": failed, "breaks_b": failed,
                                     "counts": {"mean": 2.0, "std": 1.0, "n": 3, "values": [1.0, 2.0, 3.0]}}
    assert result["models"]["a"]["breaks_a"]["mean"] == result["models"]["c"]["breaks_b"]["mean"] - 1 == 2.0
    assert result["higher_is_better"] == {"breaks_a": False, "breaks_b": False, "counts": True}
    assert sum(steps) == 3 * (3 + 3)  # the failed metric's unscored instances counted for it, once
    assert harness.not_applicable_lines(result) == [f"failed: breaks_a, breaks_b of b: {failed['failed']}"]
    assert harness.format_value(failed) == "failed"


@pytest.mark.parametrize("error", [UserError("Cannot read 'ref.pt'."), FileNotFoundError(2, "No such file")])
def test_a_users_mistake_inside_a_metric_still_stops_the_comparison(error):
    with pytest.raises(type(error)):
        _compare(Breaks(("b",), error))


def test_compare_prints_and_writes_the_rest_names_the_failure_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, None))
    monkeypatch.setattr(harness, "load_metrics", lambda names: {"breaks": Breaks(("oracle_inconsistent",), KeyError(
        "mask")), "counts": Counts()})
    monkeypatch.setenv("COLUMNS", "300")
    out, report = tmp_path / "r.json", tmp_path / "r.md"
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle,oracle_inconsistent", "--metric", "breaks",
                              "--instances", "2", "--device", "cpu", "--json", out, "--markdown", report)
    where = f"({__file__}:{Breaks.evaluate.__code__.co_firstlineno + 3})"
    line = f"failed: breaks_a, breaks_b of oracle_inconsistent: KeyError: 'mask' {where}"
    assert code == 1 and "Traceback" not in err, err
    assert [[cell.strip() for cell in row.split("│")[1:-1]] for row in stdout.splitlines()
            if row.startswith("│ oracle_inconsistent")] == [
        ["oracle_inconsistent", "failed", "failed", "1.5 ± 0.71 (n=2)"]]
    assert line in stdout.splitlines() and f"- {line}" in report.read_text().splitlines()
    assert json.loads(out.read_text())["models"]["oracle"]["breaks_b"]["values"] == [3.0, 3.0]
    assert f"wrote {out}" in err.splitlines() and f"wrote {report}" in err.splitlines()
    assert err.splitlines()[-1] == (f"Error: {line.removeprefix('failed: ')}; the other results were scored and "
                                    f"reported.")  # the last line, which zoo3d bench zoo shows of a failed compare


def test_compare_names_its_first_failure_last_and_counts_the_others(monkeypatch, capsys):
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, None))
    monkeypatch.setattr(harness, "load_metrics", lambda names: {"breaks": Breaks(("oracle", "oracle_inconsistent"),
                                                                                 ValueError("bad"))})
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle,oracle_inconsistent", "--metric", "breaks",
                         "--instances", "1", "--device", "cpu")
    where = f"({__file__}:{Breaks.evaluate.__code__.co_firstlineno + 3})"
    assert code == 1 and err.splitlines()[-1] == (
        f"Error: breaks_a, breaks_b of oracle: ValueError: bad {where} (and 1 other failure under the table); the "
        f"other results were scored and reported.")


class BadInfo(Counts):
    def protocol_info(self, ctx):
        return {"views": ctx.protocol.views / 0}


class UnreadableInfo(Counts):
    def protocol_info(self, ctx):
        raise UserError("Cannot read 'ref.pt'.")


def test_a_protocol_info_that_raises_is_recorded_as_failed_and_the_numbers_are_kept():
    """It is asked once every model was scored: its traceback lost every number."""
    result = harness.compare_models([EvalModel("a", None)], {"counts": BadInfo()}, make_protocol("small", instances=2),
                                    "cpu")
    where = f"ZeroDivisionError: division by zero ({__file__}:{BadInfo.protocol_info.__code__.co_firstlineno + 1})"
    assert result["protocol"]["metrics"] == {"counts": {"failed": where}}
    assert result["models"]["a"]["counts"]["values"] == [1.0, 2.0]
    assert result["notes"] == [f"counts: its protocol_info raised {where}; the protocol block holds no settings of it."]
    assert harness.failures(result) == [f"protocol_info of counts: {where}"]


class FailedCount(Counts):
    """Settings of its own, one of them named ``failed``: not a failure."""

    def __init__(self, info: dict):
        self.info = info

    def protocol_info(self, ctx):
        return self.info


def test_failures_are_read_from_the_result_not_from_the_lines_under_the_table():
    result = _compare(Breaks(("b",), RuntimeError("out of memory")))
    where = f"RuntimeError: out of memory ({__file__}:{Breaks.evaluate.__code__.co_firstlineno + 3})"
    assert harness.failures(result) == [f"breaks_a, breaks_b of b: {where}"]
    for info in ({"failed": 0}, {"failed": "never", "tolerance": 0.5}):
        whole = harness.compare_models([EvalModel("a", None)], {"counts": FailedCount(info)},
                                       make_protocol("small", instances=1), "cpu")
        assert whole["protocol"]["metrics"] == {"counts": info} and harness.failures(whole) == [], info


def test_compare_exits_1_when_a_protocol_info_failed(monkeypatch, capsys):
    """The numbers are kept and reported, but the protocol block lacks that metric's settings: a script is told."""
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, None))
    monkeypatch.setattr(harness, "load_metrics", lambda names: {"counts": BadInfo()})
    code, stdout, err = zoo3d(capsys, "compare", "--models", "oracle", "--metric", "counts", "--instances", "1",
                              "--device", "cpu")
    where = f"ZeroDivisionError: division by zero ({__file__}:{BadInfo.protocol_info.__code__.co_firstlineno + 1})"
    assert code == 1 and "Traceback" not in err, err
    assert any(row.startswith("│ oracle") for row in stdout.splitlines())  # the table was printed first
    assert err.splitlines()[-1] == (f"Error: protocol_info of counts: {where}; the other results were scored and "
                                    f"reported.")


def test_a_users_mistake_in_a_protocol_info_still_stops_the_comparison():
    with pytest.raises(UserError, match="ref.pt"):
        harness.compare_models([EvalModel("a", None)], {"counts": UnreadableInfo()},
                               make_protocol("small", instances=1), "cpu")
