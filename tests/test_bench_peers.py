"""``zoo3d bench peers``: skipped without the authors' checkouts; rows, ratios and targets from the repeats."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from zoo3d.benchmarks import peers
from zoo3d.benchmarks.peers import neus
from zoo3d.benchmarks.peers.records import QUICK_RECORDS, RECORDS, by_name

from peers_stand_in import name_checkout


def _ok(time_s, peak_mb, **extra):
    return {"status": "ok", "time_s": time_s, "peak_mb": peak_mb, "load_avg_1min": 2.0, **extra}


def test_neus_without_pyhocon_is_skipped_with_a_note(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM", raising=False)
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM_HD", raising=False)
    name_checkout(monkeypatch, tmp_path, "ZOO3D_UPSTREAM_NEUS")  # the checkout is "there"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyhocon" else real(name, *a))
    ran = []
    monkeypatch.setattr(peers, "_child", lambda *a: ran.append(a) or {"status": "ok"})
    assert peers.run("cpu", quick=True) == [] and ran == []
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("peers:")]
    assert len(notes) == 3 and "pyhocon" in notes[2]


def test_the_command_runs_the_suite_and_writes_what_it_measured(monkeypatch, tmp_path):
    from zoo3d.cli.bench import bench

    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM", raising=False)
    monkeypatch.delenv("ZOO3D_UPSTREAM_GRAM_HD", raising=False)
    monkeypatch.delenv("ZOO3D_UPSTREAM_NEUS", raising=False)
    out = tmp_path / "peers.json"
    result = CliRunner().invoke(bench, ["peers", "--quick", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    # the suite ran: each checkout was looked for, and its (empty) records were written
    assert result.output.count("records are skipped") == 3 and json.loads(out.read_text()) == []
    # and with a record measured, the command writes it
    monkeypatch.setattr(peers, "run", lambda device, quick: [{"name": "gram.inference.128", "device": device}])
    result = CliRunner().invoke(bench, ["peers", "--quick", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    (written,) = json.loads(out.read_text())
    env = written.pop("environment")
    assert written == {"suite": "peers", "name": "gram.inference.128", "device": "cpu"}
    assert "gram.inference.128" in result.output and "environment" not in result.output  # and prints it
    # with where it ran: the digest of the code, the threads torch used, the cores and the CPU
    from zoo3d.benchmarks.source import source_digest

    assert env["source_digest"] == source_digest() and env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads() and env["usable_cores"] >= 1 and env["cpu"]


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


@pytest.mark.parametrize("device, name, calls", [("cpu", "gram.train_step.16", 1), ("cuda", "gram.train_step.16", 2),
                                                  ("cuda", "neus.steps.32", 1)])
def test_a_cuda_measurement_times_the_work_after_one_untimed_call(monkeypatch, tmp_path, device, name, calls):
    """A first CUDA call pays for handles, kernel loading, allocator growth and a new Adam state: it is run
    untimed on CUDA (the CUDA calls are stand-ins here: no GPU is needed to see how the work is called)."""
    from zoo3d.benchmarks.peers import ours, worker

    done = []

    def prepare(record, workdir, dev):
        return (lambda: done.append(len(done)) or len(done)), (lambda result: {"result": result})

    monkeypatch.setattr(ours, "prepare", prepare)
    monkeypatch.setattr(worker, "cap_address_space", lambda gb: None)
    for fn, value in (("synchronize", None), ("reset_peak_memory_stats", None), ("max_memory_allocated", 0)):
        monkeypatch.setattr(torch.cuda, fn, lambda *a, value=value: value)
    out = worker.measure(name, "zoo3d", tmp_path, device)
    assert len(done) == calls and out["result"] == calls and out["status"] == "ok"  # the timed call is the last


def test_a_cuda_training_step_row_says_the_two_sides_precisions():
    record = by_name("gram.train_step.64")
    runs = {"authors": [_ok(1.0, 100.0)], "zoo3d": [_ok(0.5, 80.0)]}
    assert "fp16" in peers.summarise(record, runs, "cuda")["detail"]["precision"]["authors"]
    assert "precision" not in peers.summarise(record, runs, "cpu")["detail"]
    assert "precision" not in peers.summarise(by_name("gram.inference.128"), runs, "cuda")["detail"]


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
    for record in RECORDS + QUICK_RECORDS:
        assert record.model in ("gram", "gram_hd", "neus")
        assert record.work in ("inference", "forward_backward", "train_step", "graph", "neus_fit", "neus_steps")
        assert record.batch % record.split == 0
        assert (record.model == "neus") == record.work.startswith("neus_")
        if record.work == "neus_fit":
            assert record.name in neus.SETTINGS and record.time_target == 0.1
        if record.work == "neus_steps":
            assert record.name in neus.SETTINGS and record.time_target is None


# ------------------------------------------------------------------------------------------------ NeuS fit


def _curve(*points):
    return [{"iteration": i, "train_s": t, "psnr_db": p} for i, t, p in points]


def test_time_to_target_is_interpolated_between_the_watched_steps():
    curve = _curve((100, 10.0, 20.0), (200, 20.0, 30.0), (300, 30.0, 29.0), (400, 40.0, 34.0))
    assert neus.seconds_to_reach(curve, 25.0) == (15.0, 150.0)
    assert neus.seconds_to_reach(curve, 30.0) == (20.0, 200.0)   # reached exactly at a watched step
    assert neus.seconds_to_reach(curve, 32.0) == (36.0, 360.0)   # the first crossing after the dip
    assert neus.seconds_to_reach(curve, 19.0) == (10.0, 100.0)   # already at the first watched step
    assert neus.seconds_to_reach(curve, 34.5) is None


def test_neus_pair_runs_zoo3d_first_once_by_default(monkeypatch):
    record = by_name("neus.fit.64")
    assert peers._sides(record) == ("zoo3d", "authors")
    assert peers._sides(by_name("gram.inference.128")) == ("authors", "zoo3d")
    monkeypatch.delenv("ZOO3D_PEERS_NEUS_REPEATS", raising=False)
    assert peers._repeats(record, quick=False) == 1
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_REPEATS", "2")
    assert peers._repeats(record, quick=True) == 2


def test_neus_settings_are_the_small_protocol_unless_the_environment_narrows_them(monkeypatch):
    from zoo3d.eval.protocol import make_protocol

    monkeypatch.delenv("ZOO3D_PEERS_NEUS_ITERATIONS", raising=False)
    monkeypatch.delenv("ZOO3D_PEERS_NEUS_MAX_ITERS", raising=False)
    assert neus.fit_settings("neus.fit.64") == make_protocol("small").neus
    assert neus.fit_settings("neus.fit.32").iterations == 40
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_ITERATIONS", "12")
    monkeypatch.setenv("ZOO3D_PEERS_NEUS_MAX_ITERS", "300")
    assert neus.fit_settings("neus.fit.64").iterations == 12
    assert neus.record_settings("neus.fit.64").authors_max_iters == 300
    # a steps record times one fixed count on both sides: zoo3d's fit and the authors' val_freq stay equal
    for name in ("neus.steps.64", "neus.steps.32"):
        rs = neus.record_settings(name)
        fixed = neus.SETTINGS[name].iterations
        assert neus.fit_settings(name).iterations == rs.iterations == rs.eval_every_authors == fixed


def _neus_run(time_s, per_iter, reached=True, target=None, psnr=35.0):
    return _ok(time_s, 300.0, s_per_iter=per_iter, iterations=400, target_db=target, reached=reached,
               psnr_db=psnr, psnr_full_db=psnr + 0.1, iterations_to_target=400.0 if reached else None,
               train_s=time_s, wall_s=time_s + 5, curve=_curve((400, time_s, psnr)))


def test_neus_row_holds_the_target_time_per_step_and_the_ratio():
    record = by_name("neus.fit.64")
    runs = {"zoo3d": [_neus_run(60.0, 0.15, target=35.0)], "authors": [_neus_run(900.0, 0.18, target=35.0)]}
    row = peers.summarise(record, runs, "cpu")
    assert (row["zoo3d_s"], row["authors_s"]) == (60.0, 900.0)
    assert row["time_ratio"] == round(60 / 900, 3) and row["time_target"] == 0.1 and row["met"] is True
    assert row["target_db"] == 35.0 and row["authors_reached"] is True and "note" not in row
    assert (row["zoo3d_s_per_iter"], row["authors_s_per_iter"]) == (0.15, 0.18)
    assert row["detail"]["authors"]["curve"][0][0]["psnr_db"] == 35.0
    runs["authors"] = [_neus_run(300.0, 0.18, target=35.0)]
    assert peers.summarise(record, runs, "cpu")["met"] is False  # 0.2 > 0.1


def test_neus_steps_row_holds_the_time_per_step_of_both_sides(monkeypatch):
    monkeypatch.delenv("ZOO3D_PEERS_REPEATS", raising=False)
    record = by_name("neus.steps.64")
    runs = {"zoo3d": [_ok(10.0, 300.0, s_per_iter=0.2), _ok(12.0, 300.0, s_per_iter=0.24)],
            "authors": [_ok(20.0, 300.0, s_per_iter=0.4), _ok(30.0, 300.0, s_per_iter=0.6)]}
    row = peers.summarise(record, runs, "cpu")
    assert (row["zoo3d_s_per_iter"], row["authors_s_per_iter"]) == (0.22, 0.5)
    assert row["time_ratio"] == round(11 / 25, 3) and row["met"] is None and "target_db" not in row
    assert peers._sides(record) == ("authors", "zoo3d") and peers._repeats(record, quick=False) == 3


def test_neus_target_not_reached_gives_a_bound_not_a_verdict():
    record = by_name("neus.fit.64")
    zoo3d = [_neus_run(60.0, 0.15, target=35.0)]
    short = peers.summarise(record, {"zoo3d": zoo3d, "authors": [_neus_run(300.0, 0.2, reached=False)]}, "cpu")
    assert short["authors_reached"] is False and "lower bound" in short["note"]
    assert short["time_ratio"] == 0.2 and short["met"] is None  # the true ratio is below 0.2: unknown
    long = peers.summarise(record, {"zoo3d": zoo3d, "authors": [_neus_run(1200.0, 0.2, reached=False)]}, "cpu")
    assert long["time_ratio"] == 0.05 and long["met"] is True  # even the upper bound meets 0.1


def test_pooled_psnr_and_full_psnr_agree_on_a_known_error():
    from zoo3d.eval.protocol import make_protocol

    views = torch.zeros(2, 3, 4, 4)  # [-1, 1] grey 0.5 on [0, 1]
    colours = torch.full((2 * 16, 3), 0.6)  # error 0.1 everywhere: 20 dB
    assert math.isclose(neus.pooled_psnr(colours, torch.full_like(colours, 0.5)), 20.0, abs_tol=1e-4)
    assert math.isclose(neus.full_psnr(colours, views), 20.0, abs_tol=1e-4)
    assert make_protocol("small").views == 30


def test_fit_neus_watched_by_a_callback_is_the_same_fit():
    from zoo3d.eval.neus.fit import fit_neus
    from zoo3d.eval.protocol import make_protocol

    torch.set_num_threads(1)
    sc = neus.scene(8, 32, torch.device("cpu"))
    s = make_protocol("small").neus.model_copy(update=dict(
        iterations=3, batch_rays=64, n_coarse=4, n_importance=4, sdf_hidden=16, color_hidden=16, feature_dim=8))
    seen = []

    def callback(step, render):
        seen.append((step, render(sc.watched)))

    plain = fit_neus(sc.views, sc.cameras, s, seed=0)
    watched = fit_neus(sc.views, sc.cameras, s, seed=0, callback=callback)
    assert torch.equal(plain.renders, watched.renders) and plain.final_loss == watched.final_loss
    assert [step for step, _ in seen] == [1, 2, 3]
    final = ((watched.renders + 1) / 2).permute(0, 2, 3, 1).reshape(-1, 3)[sc.watched]
    assert torch.allclose(seen[-1][1], final, atol=1e-6)  # render_pixels renders as the final re-render
    assert not torch.allclose(seen[0][1], seen[-1][1])


@pytest.mark.skipif(not os.environ.get("ZOO3D_UPSTREAM_NEUS") or importlib.util.find_spec("pyhocon") is None,
                    reason="needs the authors' NeuS checkout (ZOO3D_UPSTREAM_NEUS) and pyhocon")
def test_authors_nets_from_their_narrowed_conf_have_zoo3d_sizes():
    from zoo3d.eval.neus.fields import ColorNetwork, SDFNetwork

    path = Path(os.environ["ZOO3D_UPSTREAM_NEUS"])
    s = neus.fit_settings("neus.fit.64")
    _, _, TheirSDF, TheirColor, _, _ = neus._import(path)
    conf = neus.authors_conf(path, s, s.batch_rays, 100)
    assert conf.get_int("train.batch_size") == s.batch_rays == 512
    r = conf["model.neus_renderer"]
    assert (r["n_samples"], r["n_importance"], r["up_sample_steps"], r["n_outside"]) == (16, 16, 2, 0)

    def layers(net):  # (in, out) of each linear layer in order; theirs are lin0, lin1, ...
        linears = getattr(net, "linears", None) or [getattr(net, f"lin{i}") for i in range(net.num_layers - 1)]
        return [(lin.in_features, lin.out_features) for lin in linears]

    sdf = SDFNetwork(s.sdf_layers, s.sdf_hidden, s.feature_dim, s.sdf_multires)
    assert layers(TheirSDF(**conf["model.sdf_network"])) == layers(sdf) == [
        (39, 64), (64, 25), (64, 64), (64, 64), (64, 65)]  # the input re-enters before the third layer
    color = ColorNetwork(s.feature_dim, s.color_layers, s.color_hidden, s.view_multires)
    assert layers(TheirColor(**conf["model.rendering_network"])) == layers(color) == [(97, 64), (64, 64), (64, 3)]



def test_bench_help_names_every_suite_and_which_run_by_default():
    import importlib

    from zoo3d.cli.bench import available_suites, bench

    text = " ".join(CliRunner().invoke(bench, ["--help"]).output.split())
    for name in available_suites():
        assert name in text, name
        default = getattr(importlib.import_module(f"zoo3d.benchmarks.{name}"), "RUN_BY_DEFAULT", True)
        assert (f"{name} (hours; only when named)" in text) is (not default), name
