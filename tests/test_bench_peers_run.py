"""``zoo3d bench peers`` end to end with stand-in checkouts and stand-in worker processes.

What the package docstring and docs/testing.md ("Benchmarks") promise: each record measured ``repeats`` times as
an alternating pair, the authors' code then zoo3d (zoo3d first for the NeuS fit), each in a fresh process
(``python -m zoo3d.benchmarks.peers.worker NAME SIDE DIR DEVICE``); ``ZOO3D_PEERS_REPEATS`` (3, 1 with
``--quick``), ``ZOO3D_PEERS_LONG_REPEATS`` (2, at 256² and above), ``ZOO3D_PEERS_NEUS_REPEATS`` (1),
``ZOO3D_PEERS_ONLY``; a model whose checkout is not named is skipped with a note; one row per record with the
medians, the ratios zoo3d / authors of the medians and the targets, the checkout's commit; then GRAM-HD / GRAM per
side. The ratios here are computed by hand from the times the stand-in workers report.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys

import pytest

from zoo3d.benchmarks import peers
from zoo3d.benchmarks.peers.records import QUICK_RECORDS, RECORDS, Record, by_name

from peers_stand_in import name_checkout


def _ok(time_s, peak_mb, **extra):
    return {"status": "ok", "time_s": time_s, "peak_mb": peak_mb, **extra}


@pytest.fixture
def checkouts(tmp_path, monkeypatch):
    """Three checkouts with COMMIT files, pyhocon "installed", the peers settings unset."""
    for model, env in (("gram", "ZOO3D_UPSTREAM_GRAM"), ("gram_hd", "ZOO3D_UPSTREAM_GRAM_HD"),
                       ("neus", "ZOO3D_UPSTREAM_NEUS")):
        name_checkout(monkeypatch, tmp_path / model, env, commit=f"{model}-commit")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "pyhocon" else real(name, *a))
    for name in ("ZOO3D_PEERS_REPEATS", "ZOO3D_PEERS_LONG_REPEATS", "ZOO3D_PEERS_NEUS_REPEATS", "ZOO3D_PEERS_ONLY"):
        monkeypatch.delenv(name, raising=False)


def _workers(monkeypatch, answer):
    """Stand-in worker processes: ``answer(record, side, n)`` is the n-th measurement of that side (from 0)."""
    calls = []

    def child(record, side, workdir, device):
        n = sum(1 for c in calls if c[0] == record.name and c[1] == side)
        calls.append((record.name, side, workdir, device))
        return answer(record, side, n)

    monkeypatch.setattr(peers, "_child", child)
    return calls


def test_every_record_is_measured_in_alternating_pairs_and_its_row_holds_the_ratios_of_the_medians(
        checkouts, monkeypatch, capsys):
    times = {"authors": [10.0, 14.0, 11.0], "zoo3d": [4.0, 7.0, 5.0]}
    calls = _workers(monkeypatch, lambda record, side, n: _ok(times[side][n] * record.resolution / 64,
                                                               100.0 * (n + 1) * (2 if side == "authors" else 1)))
    rows = peers.run("cpu", quick=False)
    by_record = {r["record"]: r for r in rows}
    # the order: each record in turn, pairs of (authors, zoo3d), zoo3d first for the NeuS fit
    names = [r.name for r in RECORDS]
    assert [c[0] for c in calls][::2] == [n for r in RECORDS for n in [r.name] * peers._repeats(r, False)]
    for name, side in {(c[0], c[1]) for c in calls}:
        pairs = [c[1] for c in calls if c[0] == name]
        first = "zoo3d" if name == "neus.fit.64" else "authors"
        assert pairs[0] == first and pairs == [first, {"authors": "zoo3d", "zoo3d": "authors"}[first]] * (
            len(pairs) // 2)
    counts = {name: sum(1 for c in calls if c[0] == name) // 2 for name in names}
    assert counts["gram.inference.128"] == 3 and counts["gram.inference.256"] == 2 and counts["neus.fit.64"] == 1
    assert counts["neus.steps.64"] == 3 and counts["gram_hd.train_step.256"] == 2
    # each record's processes work in its own folder of one temporary folder, on the device asked for
    folders = {c[0]: c[2] for c in calls}
    assert all(folders[n].name == n and folders[n].parent == folders[names[0]].parent for n in names)
    assert folders[names[0]].parent.name.startswith("zoo3d-peers-") and not folders[names[0]].parent.exists()
    assert {c[3] for c in calls} == {"cpu"}
    row = by_record["gram.inference.128"]  # three pairs: medians 11 and 5 s (x 2 at 128²), 400 and 200 MiB
    assert (row["authors_s"], row["zoo3d_s"]) == (22.0, 10.0) and row["time_ratio"] == round(10 / 22, 3)
    assert (row["authors_mib"], row["zoo3d_mib"], row["memory_ratio"]) == (400.0, 200.0, 0.5)
    assert row["time_target"] == 0.5 and row["memory_target"] == 1.0 and row["met"] is True
    assert row["detail"]["authors"]["time_s"] == [20.0, 28.0, 22.0]
    assert row["detail"]["authors_commit"] == "gram" + "-commit"
    assert by_record["gram_hd.inference.256"]["detail"]["authors_commit"] == "gram_hd-commit"
    long = by_record["gram.inference.256"]  # two pairs: medians of (40, 56) and (16, 28)
    assert (long["authors_s"], long["zoo3d_s"]) == (48.0, 22.0) and long["time_ratio"] == round(22 / 48, 3)
    # then GRAM-HD / GRAM of the graph records at 256², per side: the same times, so ratio 1
    hd = by_record["gram_hd_over_gram.graph.authors.256"]
    assert hd["time_ratio"] == 1.0 and hd["memory_ratio"] == 1.0 and rows[-2:] == [
        by_record["gram_hd_over_gram.graph.authors.256"], by_record["gram_hd_over_gram.graph.zoo3d.256"]]
    assert len(rows) == len(RECORDS) + 2
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("peers: ")]
    assert notes[0] == "peers: gram.inference.128 authors #1: ok 20.0 s 200.0 MiB "
    assert notes[1] == "peers: gram.inference.128 zoo3d #1: ok 8.0 s 100.0 MiB "
    assert len(notes) == len(calls)


def test_quick_runs_the_quick_records_once_and_the_environment_sets_the_pairs_and_the_records(
        checkouts, monkeypatch):
    calls = _workers(monkeypatch, lambda record, side, n: _ok(1.0, 1.0))
    rows = peers.run("cpu", quick=True)
    assert [r["record"] for r in rows[:len(QUICK_RECORDS)]] == [r.name for r in QUICK_RECORDS]
    assert len(calls) == 2 * len(QUICK_RECORDS)
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.graph.64,,neus.fit.32")
    monkeypatch.setenv("ZOO3D_PEERS_REPEATS", "2")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_REPEATS", "3")
    calls.clear()
    rows = peers.run("cuda:1", quick=True)
    assert [r["record"] for r in rows] == ["gram.graph.64", "neus.fit.32"]
    assert [(c[0], c[1]) for c in calls] == [("gram.graph.64", "authors"), ("gram.graph.64", "zoo3d")] * 2 + [
        ("neus.fit.32", "zoo3d"), ("neus.fit.32", "authors")] * 3
    assert {c[3] for c in calls} == {"cuda:1"} and rows[0]["detail"]["device"] == "cuda:1"
    assert rows[1]["detail"]["authors_commit"] == "neus-commit"


def test_a_model_without_its_checkout_is_skipped_with_the_documented_note_and_the_others_run(
        checkouts, monkeypatch, capsys):
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM_HD")
    calls = _workers(monkeypatch, lambda record, side, n: _ok(1.0, 1.0))
    rows = peers.run("cpu", quick=True)
    assert {c[0] for c in calls} == {r.name for r in QUICK_RECORDS if r.model != "gram_hd"}
    assert {r["record"].split(".")[0] for r in rows} == {"gram", "neus"}  # and no GRAM-HD / GRAM rows
    err = capsys.readouterr().err
    assert ("peers: ZOO3D_UPSTREAM_GRAM_HD is unset: the authors' GRAM-HD records are skipped (set it to a clone "
            "of https://github.com/JeffreyXiang/GRAM-HD).") in err.splitlines()


def test_without_pyhocon_the_neus_records_are_skipped_with_the_install_command(checkouts, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyhocon" else real(name, *a))
    calls = _workers(monkeypatch, lambda record, side, n: {"status": "OOM", "note": "cannot allocate"})
    monkeypatch.setenv("ZOO3D_PEERS_ONLY", "gram.graph.64,neus.fit.32")
    rows = peers.run("cpu", quick=True)
    assert [r["record"] for r in rows] == ["gram.graph.64"] and len(calls) == 2
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("peers: ")]
    assert notes[0] == ("peers: the authors' NeuS reads its conf with pyhocon, which is not installed (pip install "
                        "pyhocon): its records are skipped.")  # docs/rendering.md: the NeuS side needs pyhocon
    assert notes[1] == "peers: gram.graph.64 authors #1: OOM  s  MiB cannot allocate"  # nothing measured, the reason


def test_the_repeats_follow_the_documented_defaults_and_variables(monkeypatch):
    for name in ("ZOO3D_PEERS_REPEATS", "ZOO3D_PEERS_LONG_REPEATS", "ZOO3D_PEERS_NEUS_REPEATS"):
        monkeypatch.delenv(name, raising=False)
    small, large, fit = by_name("gram.inference.128"), by_name("gram.graph.256"), by_name("neus.fit.64")
    assert [peers._repeats(r, False) for r in (small, large, fit)] == [3, 2, 1]
    assert [peers._repeats(r, True) for r in (small, large, fit)] == [1, 1, 1]
    assert peers._repeats(Record("gram.inference.255", "gram", "inference", 255), False) == 3
    monkeypatch.setenv("ZOO3D_PEERS_REPEATS", "5")
    monkeypatch.setenv("ZOO3D_PEERS_LONG_REPEATS", "4")
    assert [peers._repeats(r, False) for r in (small, large, fit)] == [5, 4, 1]
    assert peers._repeats(large, True) == 5  # --quick: every record takes ZOO3D_PEERS_REPEATS


# ------------------------------------------------------------------------------------------ stand-in workers


def _process(monkeypatch, returncode, stdout="", stderr=""):
    seen = []

    def run(cmd, **kwargs):
        seen.append((cmd, kwargs))
        return subprocess.CompletedProcess(cmd, returncode, stdout, stderr)

    monkeypatch.setattr(peers.subprocess, "run", run)
    return seen


def test_a_measurement_is_the_last_line_a_fresh_worker_process_prints(monkeypatch, tmp_path):
    row = {"record": "gram.graph.64", "side": "zoo3d", "status": "ok", "time_s": 1.5}
    seen = _process(monkeypatch, 0, "a warning on stdout\nanother\n" + json.dumps(row) + "\n")
    assert peers._child(by_name("gram.graph.64"), "zoo3d", tmp_path / "w", "cpu") == row
    ((cmd, kwargs),) = seen
    assert cmd == [sys.executable, "-m", "zoo3d.benchmarks.peers.worker", "gram.graph.64", "zoo3d",
                   str(tmp_path / "w"), "cpu"]
    assert kwargs["capture_output"] is True and kwargs["text"] is True and kwargs.get("check") is False


@pytest.mark.parametrize("returncode, stdout, stderr, status, note", [
    (-9, "", "", "OOM", "exit -9: no output"),
    (137, "", "Killed\n", "OOM", "exit 137: Killed"),
    (1, "{}", "Traceback (most recent call last):\n  ...\nValueError: no such record\n", "error",
     "exit 1: ValueError: no such record"),
    (0, "\n", "", "error", "exit 0: no output"),
    (2, "", "x" * 300 + "\n", "error", "exit 2: " + "x" * 200),
])
def test_a_worker_that_fails_is_an_error_or_an_oom_with_the_last_line_it_wrote(
        monkeypatch, tmp_path, returncode, stdout, stderr, status, note):
    _process(monkeypatch, returncode, stdout, stderr)
    assert peers._child(by_name("gram.train_step.16"), "authors", tmp_path, "cpu") == {
        "record": "gram.train_step.16", "side": "authors", "status": status, "note": note}


# ---------------------------------------------------------------------------------------------------- rows


def test_a_row_says_what_was_measured_and_keeps_every_repeat_and_failure():
    record = Record("gram.forward_backward.16", "gram", "forward_backward", 16, batch=4, split=2)
    runs = {"authors": [_ok(2.0, 10.0, load_avg_1min=1.5), {"status": "error"}],
            "zoo3d": [_ok(1.0, 10.0), _ok(1.0004, 10.0)]}
    row = peers.summarise(record, runs, "cpu")
    assert {k: row["detail"][k] for k in ("work", "device", "batch", "split")} == {
        "work": "forward_backward", "device": "cpu", "batch": 4, "split": 2}  # no title: the work
    assert by_name("gram.inference.128").title in peers.summarise(by_name("gram.inference.128"), runs, "cpu")[
        "detail"]["work"]
    assert row["detail"]["authors"] == {"time_s": [2.0], "peak_mb": [10.0], "load_avg_1min": [1.5],
                                        "failed": ["error: "]}
    assert row["detail"]["zoo3d"] == {"time_s": [1.0, 1.0004], "peak_mb": [10.0, 10.0], "load_avg_1min": []}
    assert row["zoo3d_s"] == 1.0 and row["time_ratio"] == 0.5  # the median to the millisecond
    assert row["memory_target"] is None and row["met"] is None and row["image_max_abs_diff"] is None
    assert "precision" not in row["detail"]


def test_a_ratio_equal_to_its_target_meets_it_and_a_missing_side_leaves_the_verdict_open():
    record = Record("gram.inference.8", "gram", "inference", 8, time_target=0.5, memory_target=0.75)
    row = peers.summarise(record, {"authors": [_ok(4.0, 100.0)], "zoo3d": [_ok(2.0, 75.0)]}, "cpu")
    assert (row["time_ratio"], row["memory_ratio"], row["met"]) == (0.5, 0.75, True)
    assert row["memory_target"] == 0.75
    row = peers.summarise(record, {"authors": [{"status": "OOM", "note": "x"}], "zoo3d": [_ok(2.0, 75.0)]}, "cpu")
    assert row["time_ratio"] is None and row["met"] is None


def test_a_cuda_training_step_names_both_precisions_as_documented():
    row = peers.summarise(by_name("gram.train_step.16"), {"authors": [_ok(1.0, 1.0)], "zoo3d": [_ok(1.0, 1.0)]},
                          "cuda:0")
    precision = row["detail"]["precision"]
    assert "fp16 autocast + GradScaler" == precision["authors"]  # docs/testing.md: fp16 with a GradScaler
    assert "bf16" in precision["zoo3d"] and precision["zoo3d"].endswith("else fp16 + GradScaler")
    assert precision["zoo3d"].startswith("train.amp: bf16 autocast where supported")


def test_the_steps_record_takes_the_time_per_step_of_the_measurements_that_have_one():
    runs = {"authors": [_ok(3.0, 1.0, s_per_iter=0.3), {"status": "error", "s_per_iter": 9.0}],
            "zoo3d": [_ok(1.0, 1.0)]}
    row = peers.summarise(by_name("neus.steps.32"), runs, "cpu")
    assert row["authors_s_per_iter"] == 0.3 and row["zoo3d_s_per_iter"] is None


def test_the_neus_fit_row_keeps_each_runs_fields_and_leaves_what_was_not_measured_empty():
    fields = dict(target_db=30.0, s_per_iter=0.1, iterations=40, iterations_to_target=35.5, reached=True,
                  psnr_db=30.5, psnr_full_db=29.0, train_s=4.0, wall_s=6.0, curve=[{"iteration": 40}])
    runs = {"zoo3d": [_ok(4.0, 1.0, **fields), {"status": "OOM", "target_db": 99.0}],
            "authors": [_ok(40.0, 1.0, **{**fields, "s_per_iter": None})]}
    row = peers.summarise(by_name("neus.fit.32"), runs, "cpu")
    for key, value in fields.items():
        assert row["detail"]["zoo3d"][key] == [value], key
    assert row["target_db"] == 30.0 and row["zoo3d_s_per_iter"] == 0.1 and row["authors_s_per_iter"] is None
    assert row["authors_reached"] is True and row["time_ratio"] == 0.1 and row["met"] is True
    empty = peers.summarise(by_name("neus.fit.32"), {"zoo3d": [{"status": "OOM"}], "authors": []}, "cpu")
    assert empty["target_db"] is None and empty["authors_reached"] is None and empty["zoo3d_s_per_iter"] is None
    assert "note" not in empty


def test_a_median_is_kept_to_the_millisecond():
    assert peers._median([1.23456]) == 1.235 and peers._median([]) is None
    assert peers._median([3.0, 1.0, 2.0, 10.0]) == statistics.median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_gram_hd_over_gram_pairs_each_hd_graph_record_with_grams_and_says_why_a_ratio_is_missing():
    def row(name, authors, zoo3d):
        return peers.summarise(by_name(name), {"authors": authors, "zoo3d": zoo3d}, "cpu")

    rows = [{"record": "gram_hd.graph.32"},  # no GRAM record at its size: left out
            row("gram.inference.128", [_ok(1.0, 1.0)], [_ok(1.0, 1.0)]),
            row("gram.graph.64", [_ok(7.0, 70.0)], []),
            row("gram_hd.graph.64", [_ok(3.0, 30.0)], [{"status": "OOM", "note": "cannot allocate"}]),
            row("gram.graph.256", [], []),
            row("gram_hd.graph.256", [], [])]
    out = {r["record"]: r for r in peers.table4(rows)}
    assert list(out) == ["gram_hd_over_gram.graph.authors.64", "gram_hd_over_gram.graph.zoo3d.64",
                         "gram_hd_over_gram.graph.authors.256", "gram_hd_over_gram.graph.zoo3d.256"]
    assert out["gram_hd_over_gram.graph.authors.64"]["time_ratio"] == 0.429  # 3 / 7 to three places
    assert out["gram_hd_over_gram.graph.authors.64"]["memory_ratio"] == 0.429
    assert "detail" not in out["gram_hd_over_gram.graph.authors.64"]
    assert out["gram_hd_over_gram.graph.zoo3d.64"]["detail"] == {"note": "OOM: cannot allocate"}  # GRAM-HD's
    assert out["gram_hd_over_gram.graph.zoo3d.256"]["detail"] == {"note": "not measured"}
    assert out["gram_hd_over_gram.graph.zoo3d.256"]["memory_ratio"] is None
