"""``zoo3d bench peers``: skipped without the authors' checkouts; rows, ratios and targets from the repeats."""

from __future__ import annotations

from click.testing import CliRunner

from zoo3d.benchmarks import peers
from zoo3d.benchmarks.peers.records import RECORDS, by_name


def _ok(time_s, peak_mb, **extra):
    return {"status": "ok", "time_s": time_s, "peak_mb": peak_mb, "load_avg_1min": 2.0, **extra}


def test_without_checkouts_every_record_is_skipped_with_a_note(monkeypatch, capsys):
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM", raising=False)
    monkeypatch.setenv("ZOO3D_UPSTREAM_GRAM_HD", "/nonexistent/GRAM-HD")
    assert peers.run("cpu", quick=True) == []
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("peers:")]
    assert len(notes) == 2 and "ZOO3D_UPSTREAM_GRAM " in notes[0] and "ZOO3D_UPSTREAM_GRAM_HD" in notes[1]


def test_cli_runs_the_suite(monkeypatch):
    from zoo3d.cli.bench import bench

    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM", raising=False)
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM_HD", raising=False)
    result = CliRunner().invoke(bench, ["peers", "--quick", "--device", "cpu"])
    assert result.exit_code == 0, result.output


def test_row_holds_medians_ratios_targets_and_every_repeat():
    record = by_name("gram.inference.128")
    runs = {"authors": [_ok(10.0, 2000.0), _ok(12.0, 2100.0), _ok(11.0, 2050.0)],
            "zoo3d": [_ok(4.0, 500.0, image_max_abs_diff=2e-6), _ok(6.0, 520.0, image_max_abs_diff=3e-6),
                      {"status": "OOM", "note": "cannot allocate"}]}
    row = peers.summarise(record, runs, "cpu")
    assert (row["authors_s"], row["zoo3d_s"]) == (11.0, 5.0)
    assert row["time_ratio"] == round(5.0 / 11.0, 3) and row["time_target"] == 0.5
    assert row["memory_ratio"] == round(510.0 / 2050.0, 3) and row["met"] is True
    assert row["image_max_abs_diff"] == 3e-6
    assert row["detail"]["authors"]["time_s"] == [10.0, 12.0, 11.0]
    assert row["detail"]["zoo3d"]["failed"] == ["OOM: cannot allocate"]
    slow = {"authors": [_ok(10.0, 2000.0)], "zoo3d": [_ok(6.0, 1000.0)]}
    assert peers.summarise(record, slow, "cpu")["met"] is False  # time 0.6 > 0.5 although memory is met


def test_table4_ratio_only_where_gram_ran():
    gram, hd = by_name("gram.graph.256"), by_name("gram_hd.graph.256")
    rows = [peers.summarise(gram, {"authors": [{"status": "OOM", "note": "no memory"}], "zoo3d": [_ok(40.0, 8000.0)]},
                            "cpu"),
            peers.summarise(hd, {"authors": [_ok(30.0, 9000.0)], "zoo3d": [_ok(20.0, 4000.0)]}, "cpu")]
    ratios = {r["record"]: r for r in peers.table4(rows)}
    assert ratios["gram_hd_over_gram.graph.zoo3d.256"]["time_ratio"] == 0.5
    assert ratios["gram_hd_over_gram.graph.zoo3d.256"]["memory_ratio"] == 0.5
    authors = ratios["gram_hd_over_gram.graph.authors.256"]
    assert authors["time_ratio"] is None and "OOM" in authors["detail"]["note"]


def test_every_record_names_a_known_work_and_model():
    for record in RECORDS:
        assert record.model in ("gram", "gram_hd")
        assert record.work in ("inference", "forward_backward", "train_step", "graph")
        assert record.batch % record.split == 0
