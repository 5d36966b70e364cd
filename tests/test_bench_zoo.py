"""``zoo3d bench zoo``: settings from the environment, training stopped by its budget, the table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from zoo3d.benchmarks import zoo
from zoo3d.errors import ConfigError, UserError


def test_settings_read_the_environment_and_refuse_an_endless_run(tmp_path):
    s = zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram, pigan", "ZOO3D_ZOO_MINUTES": "12",
                                      "ZOO3D_ZOO_PRESETS": "gram=ffhq256", "ZOO3D_ZOO_OUT": str(tmp_path)})
    assert s.models == ["gram", "pigan"] and s.minutes == 12 and s.steps is None
    assert (s.preset("gram"), s.preset("pigan")) == ("ffhq256", "tiny")
    assert list(s.metrics) == list(zoo.DEFAULT_METRICS)
    assert zoo.settings_from_env(False, {}).models == ["gram", "gram_hd", "pigan", "stylesdf", "triplane"]
    assert zoo.controls() == ["oracle", "oracle_inconsistent"]
    quick = zoo.settings_from_env(True, {})
    assert (quick.steps, quick.instances, quick.minutes) == (2, 1, 0)
    assert quick.jobs == 1 and zoo.settings_from_env(False, {"ZOO3D_ZOO_JOBS": "2"}).jobs == 2
    with pytest.raises(UserError, match="at least 1"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_JOBS": "0"})
    with pytest.raises(UserError, match="never stop"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MINUTES": "0"})
    with pytest.raises(UserError, match="MODEL=PRESET"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_PRESETS": "gram"})


def test_zoo_set_reaches_the_training_of_the_models_it_names(tmp_path):
    s = zoo.settings_from_env(False, {"ZOO3D_ZOO_SET": "train.log_every=1; pigan:train.micro_batch=1;"
                                                      "gram:stages.gram.lr.generator=1e-4"})
    assert s.sets("pigan") == ["--set", "train.log_every=1", "--set", "train.micro_batch=1"]
    assert s.sets("gram") == ["--set", "train.log_every=1", "--set", "stages.gram.lr.generator=1e-4"]
    with pytest.raises(UserError, match="key=value or MODEL:key=value"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_SET": "pigan:micro"})
    s.steps, s.minutes = 1, 0
    (tmp_path / "runs").mkdir()
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    from zoo3d.config import read_yaml

    train = read_yaml(tmp_path / "runs" / "pigan" / "config.yaml")["train"]
    assert got["step"] == 1 and (train["micro_batch"], train["log_every"]) == (1, 1)
    assert got["settings"] == {"minutes": 0, "steps": 1, "set": ["train.log_every=1", "train.micro_batch=1"]}


def test_a_model_given_two_presets_is_refused():
    with pytest.raises(UserError, match=r"ZOO3D_ZOO_PRESETS names model 'pigan' twice \(tiny and celeba\)"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram,pigan", "ZOO3D_ZOO_PRESETS": "pigan=tiny,PiGAN=celeba"})


def test_an_unknown_model_is_refused_before_any_training():
    with pytest.raises(UserError, match="^ZOO3D_ZOO_MODELS: Unknown model 'gramm'. Did you mean 'gram'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "pigan,gramm"})


def test_presets_and_set_refuse_a_model_outside_the_run():
    """A typo'd MODEL would apply nothing to hours of training; names match as `zoo3d compare --ckpt` matches them."""
    env = {"ZOO3D_ZOO_MODELS": "gram,pigan,StyleSDF,gram-hd"}
    with pytest.raises(UserError, match=r"ZOO3D_ZOO_SET entry 'gramm:train.micro_batch=4' names model 'gramm', "
                                        r"which is not a model of this run \(gram, pigan, StyleSDF, gram-hd; .*"
                                        r"Did you mean 'gram'\?"):
        zoo.settings_from_env(False, {**env, "ZOO3D_ZOO_SET": "gramm:train.micro_batch=4;Pigan:train.log_every=1"})
    with pytest.raises(UserError, match=r"ZOO3D_ZOO_PRESETS entry 'pigna=celeba' names model 'pigna'.*\(gram, pigan"):
        zoo.settings_from_env(False, {**env, "ZOO3D_ZOO_PRESETS": "pigna=celeba"})
    with pytest.raises(UserError, match="names model 'stylesdf', which is not a model of this run"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram", "ZOO3D_ZOO_PRESETS": "stylesdf=ffhq1024"})
    s = zoo.settings_from_env(False, {**env, "ZOO3D_ZOO_SET": "Pigan:train.log_every=1;GRAM_HD:train.seed=2",
                                      "ZOO3D_ZOO_PRESETS": "stylesdf=ffhq1024, GRAM = ffhq256"})
    assert s.sets("pigan") == ["--set", "train.log_every=1"] and s.sets("gram-hd") == ["--set", "train.seed=2"]
    assert s.sets("gram") == [] and (s.preset("StyleSDF"), s.preset("gram"), s.preset("pigan")) == \
        ("ffhq1024", "ffhq256", "tiny")


def test_numbers_are_refused_by_name_and_instances_are_at_least_one():
    assert zoo.settings_from_env(False, {"ZOO3D_ZOO_INSTANCES": "3"}).instances == 3
    assert zoo.settings_from_env(False, {"ZOO3D_ZOO_INSTANCES": ""}).instances is None  # the protocol's count
    with pytest.raises(UserError, match="ZOO3D_ZOO_INSTANCES must be a whole number, not 'four'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_INSTANCES": "four"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_INSTANCES must be at least 1, not 0"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_INSTANCES": "0"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_MINUTES must be a number, not 'ten'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MINUTES": "ten"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_STEPS must be a whole number, not '2.5'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_STEPS": "2.5"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_PRESETS: model 'pigan' has no preset 'celeb'; its presets are "
                                        "carla, cats, celeba, tiny"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_PRESETS": "pigan=celeb"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_STEPS must be at least 1, not 0"):  # `train --steps 0` trains nothing
        zoo.settings_from_env(False, {"ZOO3D_ZOO_STEPS": "0"})
    with pytest.raises(UserError, match="ZOO3D_ZOO_MINUTES must be at least 0, not -5"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MINUTES": "-5", "ZOO3D_ZOO_STEPS": "3"})
    for never in ("nan", "inf"):  # nan would never time out
        with pytest.raises(UserError, match=f"ZOO3D_ZOO_MINUTES must be a finite number, not '{never}'"):
            zoo.settings_from_env(False, {"ZOO3D_ZOO_MINUTES": never})


def test_what_the_comparison_would_refuse_is_refused_before_any_training(tmp_path, monkeypatch):
    """The comparison runs after hours of training: its metrics, protocol, data and files are checked first."""
    monkeypatch.delenv("ZOO3D_INCEPTION", raising=False)
    with pytest.raises(UserError, match="^ZOO3D_ZOO_METRICS: Unknown metric 'epii'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi,epii"})
    with pytest.raises(UserError, match=r"^ZOO3D_ZOO_METRICS: The metric 'epi' is named twice; name each metric once"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi,depth,epi"})
    with pytest.raises(UserError, match="^ZOO3D_ZOO_PROTOCOL: Unknown protocol 'papr'"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_PROTOCOL": "papr"})
    with pytest.raises(ConfigError, match=r"^ZOO3D_ZOO_COMPARE_SET \(compare's --set items\): .*'epi_frms' is not"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_COMPARE_SET": "epi_frames=90; epi_frms=3"})
    with pytest.raises(UserError, match=r"^the comparison's pre-flight \(ZOO3D_ZOO_METRICS, ZOO3D_ZOO_DATA, .*neither a regis"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_DATA": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match=r"ZOO3D_INCEPTION\): FID/KID need the Inception weights.*\(zoo3d compare\)"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_METRICS": "epi,fid"})
    s = zoo.settings_from_env(True, {"ZOO3D_ZOO_COMPARE_SET": "epi_frames=90; depth_views=5"})
    cmd = zoo._compare_cmd(["oracle"], {}, s, "cpu", "compare")
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert sets == ["neus.iterations=20", "epi_frames=90", "depth_views=5"]


def test_a_training_that_ignores_the_budget_stop_is_killed(tmp_path, monkeypatch):
    """A child that outlives the grace period would train on unseen, beside the next model's training."""
    ready = tmp_path / "ready"
    child = ("import pathlib, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
             "pathlib.Path(sys.argv[1]).touch(); print('stepping', flush=True); time.sleep(120)")
    monkeypatch.setattr(zoo, "_zoo3d", lambda *args: [sys.executable, "-c", child, str(ready)])
    monkeypatch.setattr(zoo, "STOP_GRACE_S", 0.5)
    started, popen = [], subprocess.Popen

    def start(*args, **kwargs):  # the budget's clock starts once SIGINT is ignored, however slow the start
        started.append(popen(*args, **kwargs))
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return started[-1]

    monkeypatch.setattr(zoo.subprocess, "Popen", start)
    (tmp_path / "runs").mkdir()
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0.5 / 60, steps=None)
    try:
        with pytest.raises(UserError, match="did not stop within 0.5 s of its budget's SIGINT and was killed"):
            zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
        assert started[0].poll() is not None
        log = (tmp_path / "runs" / "pigan.log").read_text()
        assert log.startswith("stepping\n") and "zoo: killed" in log
        assert not zoo.training_record_path(tmp_path / "runs" / "pigan").exists()
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_budget_stops_training_with_a_checkpoint(tmp_path):
    """No step cap: only SIGINT at the budget can end this run (tiny pi-GAN has thousands of steps)."""
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0.4, steps=None)
    (tmp_path / "runs").mkdir()
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    assert got["ended"] == "budget"
    assert 24 <= got["train_s"] < 24 + 120
    from zoo3d.runs import load_model

    assert load_model(str(tmp_path / "runs" / "pigan"), device="cpu").step == got["step"] >= 1
    assert json.loads(zoo.training_record_path(tmp_path / "runs" / "pigan").read_text()) == got


def _fake_zoo(monkeypatch, tmp_path, trained_now: list[str]):
    """zoo.run with its subprocesses replaced: a training writes a config and its record, as the real one does."""
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "gram,pigan")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(tmp_path))
    monkeypatch.setenv("ZOO3D_ZOO_STEPS", "5")

    def train(model, run_dir, s, device):
        trained_now.append(model)
        run_dir.mkdir(parents=True)
        (run_dir / "config.yaml").write_text("model: x\n")
        record = {"model": model, "preset": s.preset(model), "data": s.data, "ended": "finished",
                  "train_s": 60.0, "step": 5, "stage": "s", "device": device, "threads": "2",
                  "settings": zoo.training_settings(model, s)}
        zoo.training_record_path(run_dir).write_text(json.dumps(record))
        return record

    def compare(runs, s, device):
        names = ["oracle", *runs]
        return {"models": {n: {"epi": {"mean": 1.0, "std": 0.0, "n": 1}} for n in names},
                "provenance": {n: {"strictly_3d_consistent": True} for n in names},
                "higher_is_better": {"epi": False}}

    monkeypatch.setattr(zoo, "train_for_budget", train)
    monkeypatch.setattr(zoo, "draw_samples", lambda m, *a: {"samples": f"{m}_s.png", "yaw_sweep": f"{m}_y.png"})
    monkeypatch.setattr(zoo, "compare_all", compare)


def test_resume_compares_again_without_training_what_finished(tmp_path, monkeypatch):
    trained_now: list[str] = []
    _fake_zoo(monkeypatch, tmp_path, trained_now)
    zoo.run("cpu", quick=False)
    assert trained_now == ["gram", "pigan"]
    with pytest.raises(UserError, match="ZOO3D_ZOO_RESUME=1"):
        zoo.run("cpu", quick=False)
    # pigan's training is lost; gram's finished and is kept
    shutil.rmtree(tmp_path / "runs" / "pigan")
    zoo.training_record_path(tmp_path / "runs" / "pigan").unlink()
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    trained_now.clear()
    records = {r["model"]: r for r in zoo.run("cpu", quick=False)}
    assert trained_now == ["pigan"]
    assert records["gram"]["step"] == 5 and records["gram"]["train_s"] == 60.0
    table = (tmp_path / "zoo.md").read_text()
    assert "without the trainings of gram, done by an earlier invocation" in table
    assert "| gram | yes | tiny | 5 | 1.0 |" in table


def test_resume_refuses_a_cut_off_or_mismatched_training(tmp_path, monkeypatch):
    trained_now: list[str] = []
    _fake_zoo(monkeypatch, tmp_path, trained_now)
    zoo.run("cpu", quick=False)
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    monkeypatch.setenv("ZOO3D_ZOO_PRESETS", "gram=ffhq256")
    with pytest.raises(UserError, match="preset tiny on synthetic:heads, not ffhq256"):
        zoo.run("cpu", quick=False)
    monkeypatch.delenv("ZOO3D_ZOO_PRESETS")
    zoo.training_record_path(tmp_path / "runs" / "gram").unlink()
    with pytest.raises(UserError, match="without a record"):
        zoo.run("cpu", quick=False)
    assert trained_now == ["gram", "pigan"]


def test_resume_refuses_a_training_made_under_another_budget_or_set(tmp_path, monkeypatch, capsys):
    """The table's header states one budget for every row; a record says which it trained under."""
    trained_now: list[str] = []
    _fake_zoo(monkeypatch, tmp_path, trained_now)
    monkeypatch.setenv("ZOO3D_ZOO_SET", "gram:train.micro_batch=4")
    zoo.run("cpu", quick=False)
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    monkeypatch.setenv("ZOO3D_ZOO_MINUTES", "10")
    with pytest.raises(UserError, match="gram.json was trained under other settings: ZOO3D_ZOO_MINUTES 30 min "
                                        "there, 10 min now; set them back"):
        zoo.run("cpu", quick=False)
    monkeypatch.delenv("ZOO3D_ZOO_MINUTES")
    monkeypatch.setenv("ZOO3D_ZOO_STEPS", "6")
    with pytest.raises(UserError, match="ZOO3D_ZOO_STEPS 5 there, 6 now"):
        zoo.run("cpu", quick=False)
    monkeypatch.setenv("ZOO3D_ZOO_STEPS", "5")
    monkeypatch.setenv("ZOO3D_ZOO_SET", "gram:train.micro_batch=2")
    with pytest.raises(UserError, match="ZOO3D_ZOO_SET 'train.micro_batch=4' there, 'train.micro_batch=2' now"):
        zoo.run("cpu", quick=False)
    monkeypatch.setenv("ZOO3D_ZOO_SET", "GRAM:train.micro_batch=4")  # the same setting, as `zoo3d train` spells it
    zoo.run("cpu", quick=False)
    assert trained_now == ["gram", "pigan"]
    # records written before `settings` was kept are reused, with a note
    for model in ("gram", "pigan"):
        path = zoo.training_record_path(tmp_path / "runs" / model)
        path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "settings"}))
    monkeypatch.setenv("ZOO3D_ZOO_MINUTES", "10")
    capsys.readouterr()
    zoo.run("cpu", quick=False)
    assert trained_now == ["gram", "pigan"]
    assert "gram.json predates the record of budget, step cap and ZOO3D_ZOO_SET" in capsys.readouterr().err


def test_the_table_sorts_by_the_headline_and_the_records_carry_what_the_table_shows(tmp_path, monkeypatch):
    """Rows in the order of neus_detail_gain (as docs/zoo.md says), a one-value metric without a false
    '± 0', and JSON records with the count, the consistency flag and whether the training was reused."""
    _fake_zoo(monkeypatch, tmp_path, [])
    gains = {"oracle": 0.9, "oracle_inconsistent": 0.03, "gram": 0.5, "pigan": None}

    def compare(runs, s, device):
        names = ["oracle", "oracle_inconsistent", *runs]
        rows = {n: {"neus_detail_gain": {"mean": gains[n], "std": None if gains[n] is None else 0.1, "n": 4},
                    "swd": {"mean": 19.76, "std": 0.0, "n": 1}} for n in names}
        return {"models": rows, "provenance": {n: {"strictly_3d_consistent": n != "oracle_inconsistent"} for n in names},
                "higher_is_better": {"neus_detail_gain": True, "swd": False}}

    monkeypatch.setattr(zoo, "compare_all", compare)
    records = {r["model"]: r for r in zoo.run("cpu", quick=False)}
    table = (tmp_path / "zoo.md").read_text()
    order = [line.split(" | ")[0][2:] for line in table.splitlines() if line.startswith("| ") and " | " in line][1:]
    assert order == ["oracle", "gram", "oracle_inconsistent", "pigan"]  # highest first, no value last
    assert "| 19.76 (1) |" in table and "± 0 " not in table
    assert "Rows sorted by `neus_detail_gain`" in table and "Trainings ran on" not in table
    assert records["gram"]["neus_detail_gain_n"] == 4 and records["gram"]["swd_n"] == 1
    assert records["gram"]["reused"] is False and records["gram"]["device"] == "cpu"
    assert records["oracle_inconsistent"]["strictly_3d_consistent"] is False
    assert records["oracle"]["strictly_3d_consistent"] is True
    # a resume refuses a training made on another device: the header states one device for every row
    monkeypatch.setenv("ZOO3D_ZOO_RESUME", "1")
    with pytest.raises(UserError, match="gram.json was trained with --device cpu, not cuda"):
        zoo.run("cuda", quick=False)
    assert all(r["reused"] for r in zoo.run("cpu", quick=False) if r["model"] in ("gram", "pigan"))
    # a training reused from a run with another ZOO3D_ZOO_JOBS had other threads: the table lists them per model
    path = zoo.training_record_path(tmp_path / "runs" / "pigan")
    path.write_text(json.dumps({**json.loads(path.read_text()), "threads": "1"}))
    zoo.run("cpu", quick=False)
    assert "Trainings ran on: gram cpu, 2 threads; pigan cpu, 1 thread." in (tmp_path / "zoo.md").read_text()


def test_the_cores_shared_out_are_those_this_process_may_use(monkeypatch):
    monkeypatch.setattr(zoo.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)  # taskset -c 0-2
    monkeypatch.setattr(zoo.os, "cpu_count", lambda: 64)
    assert zoo.usable_cores() == 3 and zoo.child_env(3, {})["OMP_NUM_THREADS"] == "1"


def test_side_by_side_jobs_share_the_cores_and_the_models(monkeypatch):
    monkeypatch.setattr(zoo, "usable_cores", lambda: 8)
    assert zoo.child_env(2, {})["OMP_NUM_THREADS"] == "4" and zoo.child_env(16, {})["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in zoo.child_env(1, {})
    assert zoo.child_env(2, {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"
    assert zoo.child_env(2, {"OMP_NUM_THREADS": ""})["OMP_NUM_THREADS"] == "4"  # empty: OpenMP's default, every core
    names = ["oracle", "oracle_inconsistent", "gram", "gram_hd", "pigan"]
    assert zoo.split_models(names, 2) == [["oracle", "gram", "pigan"], ["oracle_inconsistent", "gram_hd"]]
    assert zoo.split_models(names[:2], 4) == [["oracle"], ["oracle_inconsistent"]]
    assert zoo.split_models(names, 1) == [names]


def _entry(mean, std=0.1, n=2):
    return {"mean": mean, "std": std, "n": n}


def test_table_has_one_row_per_model_with_consistency_budget_and_images(tmp_path):
    result = {"models": {"oracle": {"epi": _entry(10.0), "neus_seconds": _entry(3.0), "neus_control_psnr": _entry(25.0)},
                         "oracle_inconsistent": {"epi": _entry(140.0)},
                         "gram_hd": {"epi": _entry(30.0)}},
              "provenance": {"oracle": {"strictly_3d_consistent": True},
                             "oracle_inconsistent": {"strictly_3d_consistent": False},
                             "gram_hd": {"strictly_3d_consistent": False}},
              "higher_is_better": {"epi": False}, "notes": ["gram_hd: a note"]}
    trained = {"gram_hd": {"preset": "tiny", "step": 812, "train_s": 600.0}}
    images = {"gram_hd": {"samples": "gram_hd_samples.png", "yaw_sweep": "gram_hd_yaw_sweep.png"}}
    s = zoo.ZooSettings(models=["gram_hd"], out=tmp_path, minutes=10)
    text = zoo.zoo_table(result, trained, images, s, 900.0, "cpu", "zoo3d bench zoo")
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) == {"model", "oracle", "oracle_inconsistent", "gram_hd"}
    assert "| epi ↓ |" in rows["model"] and "neus_seconds" not in rows["model"]
    assert rows["model"].endswith("| neus_control_psnr |")  # a key without a direction gets no arrow
    assert "| no (2D upsampler) | tiny | 812 | 10.0 | 30 ± 0.1 (2) |" in rows["gram_hd"]
    assert "| yes | - | - | - | 10 ± 0.1 (2) |" in rows["oracle"]
    assert "images/gram_hd_yaw_sweep.png" in text and "- gram_hd: a note" in text
    assert "budget 10 min per model; whole run 15.0 min" in text


def test_bench_without_names_skips_the_zoo(monkeypatch):
    from click.testing import CliRunner

    from zoo3d.cli import bench as bench_cli

    ran = []
    monkeypatch.setattr(bench_cli, "available_suites", lambda: ["zoo"])
    monkeypatch.setattr(zoo, "run", lambda device, quick: ran.append(device) or [])
    assert CliRunner().invoke(bench_cli.bench, ["--device", "cpu"]).exit_code == 0
    assert ran == []
    assert CliRunner().invoke(bench_cli.bench, ["zoo", "--device", "cpu"]).exit_code == 0
    assert ran == ["cpu"]


@pytest.mark.slow
def test_quick_zoo_run_writes_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO3D_ZOO_MODELS", "pigan")
    monkeypatch.setenv("ZOO3D_ZOO_METRICS", "epi")
    monkeypatch.setenv("ZOO3D_ZOO_OUT", str(tmp_path / "zoo"))
    records = {r["model"]: r for r in zoo.run("cpu", quick=True)}
    assert set(records) == {"oracle", "oracle_inconsistent", "pigan"}
    assert records["pigan"]["step"] == 2 and records["oracle"]["epi"] < records["oracle_inconsistent"]["epi"]
    assert (tmp_path / "zoo" / "images" / "pigan_yaw_sweep.png").stat().st_size > 0
    assert "| pigan | yes | tiny | 2 |" in (tmp_path / "zoo" / "zoo.md").read_text()
