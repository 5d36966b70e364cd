"""``zoo3d bench zoo`` when a metric fails on one model: ``zoo3d compare`` writes its reports with that model's cells
``failed`` and exits 1. docs/zoo.md: the run keeps the comparison, writes ``zoo.md`` with those cells marked and the
samples of every model, prints and writes its records (the model's ``failed`` names the keys), and ends with exit
status 1 and a last line naming the failure; any other failure of the comparison stops the run as before.

The trainings and samples are stood in for; ``zoo3d compare`` runs in this process, with a stand-in metric that
raises on one model.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from conftest import run_in_process
from test_bench_zoo_standins import IMAGES, TRAINED, _no_zoo_environment  # noqa: F401 (fixture)
from zoo3d.benchmarks import zoo
from zoo3d.errors import UserError
from zoo3d.eval import harness
from zoo3d.eval.metric import EvalModel, Metric


class Breaks(Metric):
    """1 per instance, and on the models in ``fails_on`` an out-of-memory error."""
    name, keys, higher_is_better = "breaks", ("breaks",), True
    fails_on = ("oracle_inconsistent",)

    def evaluate(self, model, ctx):
        if model.name in self.fails_on:
            raise RuntimeError("out of memory")
        ctx.advance(len(ctx.seeds))
        return {"breaks": [1.0] * len(ctx.seeds)}


WHERE = f"({__file__}:{Breaks.evaluate.__code__.co_firstlineno + 2})"
FAILURE = f"breaks of oracle_inconsistent: RuntimeError: out of memory {WHERE}"


def failure(model: str) -> str:
    """What the comparison says of ``breaks`` failing on ``model``."""
    return FAILURE.replace("oracle_inconsistent", model, 1)


class InProcess:
    """A finished child process: ``zoo3d ARGS`` run here (``sample`` does nothing), its exit status and stderr."""

    def __init__(self, cmd, **kwargs):
        args = cmd[3:]  # [python, -m, zoo3d, ...]
        self.returncode, err = 0, io.StringIO()
        if args[0] == "compare":
            from zoo3d.cli.main import main

            with redirect_stdout(io.StringIO()), redirect_stderr(err):
                try:
                    main(args)
                except SystemExit as exc:
                    self.returncode = exc.code or 0
        self.err = err.getvalue()

    def communicate(self):
        return "", self.err


@pytest.fixture
def zoo_run(tmp_path, monkeypatch):
    """A zoo run of gram and stylesdf on ``breaks``, every child in this process; its output folder."""
    out = tmp_path / "zoo"
    for key, value in {"ZOO3D_ZOO_MODELS": "gram,stylesdf", "ZOO3D_ZOO_OUT": str(out), "ZOO3D_ZOO_METRICS": "breaks",
                       "ZOO3D_ZOO_INSTANCES": "2", "COLUMNS": "400"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(harness, "load_metrics", lambda names: {"breaks": Breaks()})
    monkeypatch.setattr(harness, "load_eval_model", lambda name, ckpt, device: EvalModel(name, None))

    def train(model, run_dir, s, device):
        run_dir.mkdir(parents=True)
        return {"model": model, **TRAINED[model]}

    monkeypatch.setattr(zoo, "train_for_budget", train)
    monkeypatch.setattr(zoo.Children, "start", lambda self, cmd, **kwargs: InProcess(cmd, **kwargs))
    return out


def test_the_table_records_and_samples_are_kept_and_the_run_ends_naming_the_failure(zoo_run, capsys):
    code, stdout, err = run_in_process(capsys, "bench", "zoo", "--device", "cpu", "--json", zoo_run / "records.json")
    assert code == 1 and "Traceback" not in err, err
    assert err.splitlines()[-1] == (
        f"Error: zoo: zoo3d compare failed on {FAILURE}; the other cells, the samples and the trainings are in "
        f"{zoo_run / 'zoo.md'}, and ZOO3D_ZOO_OUT={zoo_run} ZOO3D_ZOO_RESUME=1 redoes the comparison without "
        f"training again.")
    table = (zoo_run / "zoo.md").read_text().splitlines()
    assert [row for row in table if row.startswith("| oracle")] == [
        "| oracle | yes | - | - | - | 1 ± 0 (2) |", "| oracle_inconsistent | yes | - | - | - | failed |"]
    assert f"Failed in the comparison (the other cells were scored): {FAILURE}." in table
    assert "## gram" in table and "## stylesdf" in table  # the samples of the trained models
    records = {r["model"]: r for r in json.loads((zoo_run / "records.json").read_text())}
    assert list(records) == ["oracle", "oracle_inconsistent", "gram", "stylesdf"]
    assert (records["gram"]["breaks"], records["gram"]["breaks_n"], records["gram"]["step"]) == (1.0, 2, 2000)
    assert records["oracle_inconsistent"]["failed"] == "breaks" and "breaks" not in records["oracle_inconsistent"]
    assert "failed" not in records["oracle"]
    assert f"wrote 4 records to {zoo_run / 'records.json'}" in stdout


@pytest.mark.parametrize("earlier_report, code, writes", [(True, 1, False), (False, 1, False), (False, -9, True)],
                         ids=["exit-1-an-earlier-report", "exit-1-no-report", "killed-after-its-report"])
def test_a_comparison_that_wrote_no_results_or_ended_otherwise_still_stops_the_run(zoo_run, monkeypatch, earlier_report,
                                                                                   code, writes):
    """Exit status 1 without a new compare.json (the report an earlier invocation left; or none, a crash) is no result;
    nor is any other status than 1, even after a report was written (killed while writing compare.md)."""
    zoo_run.mkdir()
    if earlier_report:
        (zoo_run / "compare.json").write_text("{}")
    monkeypatch.setattr(harness, "load_metrics", lambda names: {"breaks": Breaks()} if names == ["breaks"] else {})

    class Crashes(InProcess):
        def __init__(self, cmd):
            self.returncode, self.err = (code, "KeyError: 'x'") if cmd[3] == "compare" else (0, "")
            if cmd[3] == "compare" and writes:
                Path(cmd[cmd.index("--json") + 1]).write_text("{}")

    monkeypatch.setattr(zoo.Children, "start", lambda self, cmd, **kwargs: Crashes(cmd))
    with pytest.raises(UserError, match=rf"^zoo3d compare failed \(exit {code}\): KeyError: 'x'$"):
        zoo.run("cpu", quick=False)
    assert not (zoo_run / "zoo.md").exists()


def test_more_than_one_failure_is_counted_after_the_first(zoo_run, capsys, monkeypatch):
    """The last line names the first failure and counts the others; zoo.md names them all."""
    monkeypatch.setattr(Breaks, "fails_on", ("gram", "oracle"))
    code, _, err = run_in_process(capsys, "bench", "zoo", "--device", "cpu")
    assert code == 1 and "Traceback" not in err, err
    first, second = failure("oracle"), failure("gram")
    assert err.splitlines()[-1].startswith(f"Error: zoo: zoo3d compare failed on {first} (and 1 other failure); the ")
    assert f"Failed in the comparison (the other cells were scored): {first}; {second}." in \
        (zoo_run / "zoo.md").read_text().splitlines()


def test_a_split_comparison_keeps_the_parts_whose_metric_failed_and_merges_them(tmp_path, monkeypatch):
    """ZOO3D_ZOO_JOBS=2: each part that exits 1 having written its JSON is kept; the merged result holds the failure."""
    from test_bench_zoo_standins import _part

    def run(cmd, what, env=None):
        names = cmd[cmd.index("--models") + 1].split(",")
        part = _part(names, {"name": "small"})
        if "oracle_inconsistent" in names:
            part["models"]["oracle_inconsistent"]["epi"] = {"mean": None, "std": None, "n": 0, "failed": "boom"}
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(part))
        if "oracle_inconsistent" in names:
            raise zoo.ChildFailed(f"{what} failed (exit 1): Error: epi of oracle_inconsistent: boom", 1)

    monkeypatch.setattr(zoo, "_run", run)
    monkeypatch.setattr(zoo, "controls", lambda: ["oracle", "oracle_inconsistent"])
    runs = {"gram": tmp_path / "runs" / "gram"}
    result = zoo.compare_all(runs, zoo.ZooSettings(models=["gram"], out=tmp_path, metrics=["epi"], jobs=2), "cpu")
    assert list(result["models"]) == ["oracle", "oracle_inconsistent", "gram"]
    assert harness.failures(result) == ["epi of oracle_inconsistent: boom"]
    assert json.loads((tmp_path / "compare.json").read_text())["models"]["oracle_inconsistent"]["epi"]["failed"] == \
        "boom"
