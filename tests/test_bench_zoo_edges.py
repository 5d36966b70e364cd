"""``zoo3d bench zoo`` at its edges: a preset whose name holds ``=``, a checkpoint that does not name its stage, the
threads each part of a split comparison gets, and the table's line for trainings recorded before device and threads
were kept.

docs/zoo.md: ``ZOO3D_ZOO_PRESETS`` is ``MODEL=PRESET,...`` (the model is what comes before the first ``=``); each
training record holds "preset, data, how it ended, seconds, steps, stage, device, threads"; with
``ZOO3D_ZOO_JOBS=N`` "each child process gets ``OMP_NUM_THREADS`` = cores / N ... unless you set it", the
comparison's parts included; trainings that ran with another thread count are listed per model in ``zoo.md``.
The child processes are the stand-ins of test_bench_zoo_standins.py.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from test_bench_zoo_standins import (IMAGES, RESULT, TRAINED, _no_zoo_environment, _part,  # noqa: F401 (fixtures)
                                     stand_in_trainer)
from zoo3d.benchmarks import zoo
from zoo3d.errors import UserError
from zoo3d.plugins import get_model_spec


# ---- a preset name with "="


@pytest.fixture
def pigan_presets(tmp_path, monkeypatch):
    """pi-GAN's presets plus ``res=32.yaml`` (the tiny preset under a name with an equals sign)."""
    spec = get_model_spec("pigan")
    presets = tmp_path / "presets"
    shutil.copytree(spec.presets_dir, presets)
    shutil.copy(presets / "tiny.yaml", presets / "res=32.yaml")
    monkeypatch.setattr(spec, "presets_dir", presets)
    return presets


def test_a_preset_name_may_hold_an_equals_sign_after_the_models(pigan_presets, tmp_path, stand_in_trainer):
    s = zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "gram,pigan", "ZOO3D_ZOO_PRESETS": "pigan = res=32"})
    assert s.presets == {"pigan": "res=32"} and (s.preset("pigan"), s.preset("gram")) == ("res=32", "tiny")
    s.minutes, s.steps, s.out = 0, 2, tmp_path
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    argv = stand_in_trainer.argv
    assert argv[argv.index("--preset") + 1] == "res=32" and got["preset"] == "res=32"
    with pytest.raises(UserError, match=r"^ZOO3D_ZOO_PRESETS: model 'pigan' has no preset 'res=64'; its presets "
                                        r"are carla, cats, celeba, res=32, tiny.$"):
        zoo.settings_from_env(False, {"ZOO3D_ZOO_MODELS": "pigan", "ZOO3D_ZOO_PRESETS": "pigan=res=64"})


# ---- a checkpoint without "zoo3d.stage"


def test_a_checkpoint_that_names_no_stage_gives_a_record_with_an_empty_stage(tmp_path, stand_in_trainer, monkeypatch):
    import zoo3d.train.checkpoint

    monkeypatch.setattr(zoo3d.train.checkpoint, "read_metadata",  # the stand-in's metadata less the stage
                        lambda path: {k: v for k, v in json.loads(Path(path).read_text()).items()
                                      if k != "zoo3d.stage"})
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=2)
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    assert got["stage"] == "" and got["step"] == 7 and got["ended"] == "finished"
    assert json.loads((tmp_path / "runs" / "pigan.json").read_text())["stage"] == ""  # written, not left out


def test_a_checkpoint_that_names_no_step_is_at_step_zero_as_the_launcher_reads_it(tmp_path, stand_in_trainer,
                                                                                  monkeypatch):
    import zoo3d.train.checkpoint
    from zoo3d.launch import _stage_position

    monkeypatch.setattr(zoo3d.train.checkpoint, "read_metadata", lambda path: {})  # neither step nor stage
    s = zoo.ZooSettings(models=["pigan"], out=tmp_path, minutes=0, steps=2)
    got = zoo.train_for_budget("pigan", tmp_path / "runs" / "pigan", s, "cpu")
    assert (got["step"], got["stage"]) == (_stage_position({})[1], "") == (0, "")  # a resume would start there too


# ---- the threads of a split comparison's parts


@pytest.fixture
def compare_envs(monkeypatch):
    """``zoo3d compare`` stood in for: (its --json stem, OMP_NUM_THREADS of its environment) for each part."""
    seen = []

    def run(cmd, what, env=None):
        stem = Path(cmd[cmd.index("--json") + 1]).stem
        env = os.environ if env is None else env  # None: the child inherits this process's, as subprocess does
        seen.append((stem, env.get("OMP_NUM_THREADS", "unset")))
        names = cmd[cmd.index("--models") + 1].split(",")
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(_part(names, {"name": "small"})))

    monkeypatch.setattr(zoo, "_run", run)
    monkeypatch.setattr(zoo, "controls", lambda: ["oracle", "oracle_inconsistent"])
    monkeypatch.setattr(zoo, "usable_cores", lambda: 4)
    return seen


@pytest.mark.parametrize("jobs, threads", [(2, "2"), (3, "1"), (4, "1")])
def test_each_part_of_a_split_comparison_gets_its_share_of_the_cores(tmp_path, compare_envs, jobs, threads):
    runs = {m: tmp_path / "runs" / m for m in ("gram", "gram_hd", "pigan")}
    zoo.compare_all(runs, zoo.ZooSettings(models=list(runs), out=tmp_path, metrics=["epi"], jobs=jobs), "cpu")
    assert sorted(compare_envs) == [(f"compare-part{i}", threads) for i in range(jobs)]  # 4 cores // jobs, at least 1


def test_a_comparison_left_in_one_part_still_gets_the_share_of_its_jobs(tmp_path, compare_envs, monkeypatch):
    monkeypatch.setattr(zoo, "controls", lambda: [])  # one model and no controls: one part, however many jobs
    runs = {"gram": tmp_path / "runs" / "gram"}
    zoo.compare_all(runs, zoo.ZooSettings(models=["gram"], out=tmp_path, metrics=["epi"], jobs=2), "cpu")
    assert compare_envs == [("compare", "2")]


def test_a_users_thread_count_reaches_every_part_and_one_job_leaves_it_to_openmp(tmp_path, compare_envs,
                                                                                 monkeypatch):
    runs = {m: tmp_path / "runs" / m for m in ("gram", "pigan")}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    zoo.compare_all(runs, zoo.ZooSettings(models=list(runs), out=tmp_path, metrics=["epi"], jobs=2), "cpu")
    assert sorted(compare_envs) == [("compare-part0", "3"), ("compare-part1", "3")]
    monkeypatch.delenv("OMP_NUM_THREADS")
    compare_envs.clear()
    zoo.compare_all(runs, zoo.ZooSettings(models=list(runs), out=tmp_path, metrics=["epi"], jobs=1), "cpu")
    assert compare_envs == [("compare", "unset")]


# ---- the whole run with two jobs, and with no setting at all


def _stand_in_children(monkeypatch, train):
    """Every child process of ``zoo.run`` stood in for: ``train`` for the trainings, and for the sample and compare
    commands a recorder of (what, OMP_NUM_THREADS of the child's environment) that writes the JSON compare asks."""
    seen = []

    def run(cmd, what, env=None):
        env = os.environ if env is None else env
        seen.append((what, env.get("OMP_NUM_THREADS", "unset")))
        if "--json" in cmd:
            names = cmd[cmd.index("--models") + 1].split(",")
            Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(_part(names, {"name": "small"})))

    monkeypatch.setattr(zoo, "train_for_budget", train)
    monkeypatch.setattr(zoo, "_run", run)
    monkeypatch.setattr(zoo, "controls", lambda: ["oracle", "oracle_inconsistent"])
    monkeypatch.setattr(zoo, "usable_cores", lambda: 4)
    return seen


def test_two_jobs_train_two_models_at_once_and_give_every_child_half_the_cores(tmp_path, monkeypatch):
    for key, value in {"ZOO3D_ZOO_MODELS": "gram,stylesdf", "ZOO3D_ZOO_OUT": str(tmp_path), "ZOO3D_ZOO_JOBS": "2",
                       "ZOO3D_ZOO_METRICS": "epi"}.items():
        monkeypatch.setenv(key, value)
    both = threading.Barrier(2, timeout=20)  # each training waits for the other: one after the other breaks it

    def train(model, run_dir, s, device):
        both.wait()
        run_dir.mkdir(parents=True)
        return {"model": model, **TRAINED[model]}

    seen = _stand_in_children(monkeypatch, train)
    zoo.run("cpu", quick=False)
    assert sorted(seen) == sorted([(f"zoo3d sample {m}", "2") for m in ("gram", "stylesdf")]
                                  + [(f"zoo3d sample {m} (yaw sweep)", "2") for m in ("gram", "stylesdf")]
                                  + [("zoo3d compare (compare-part0)", "2"), ("zoo3d compare (compare-part1)", "2")])


def test_with_no_setting_one_model_trains_at_a_time_and_the_table_shows_the_bare_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default ZOO3D_ZOO_OUT, runs/zoo-<time>, is under it

    running, most = [], []

    def train(model, run_dir, s, device):
        running.append(model)
        most.append(len(running))
        time.sleep(0.05)  # long enough for a second training, were one started beside it, to be counted
        running.remove(model)
        run_dir.mkdir(parents=True)
        return {"model": model, "preset": "tiny", "step": 1, "train_s": 6.0, "device": device, "threads": "4"}

    seen = _stand_in_children(monkeypatch, train)
    zoo.run("cpu", quick=False)
    (table,) = (tmp_path / "runs").glob("zoo-*/zoo.md")
    assert table.read_text().splitlines()[3] == "zoo3d bench zoo --device cpu"
    assert len(most) == 5 and max(most) == 1  # every bench:zoo model, one training at a time
    assert {threads for _, threads in seen} == {"unset"}  # one job: every child keeps OpenMP's own default


# ---- records from before device and threads were kept


def test_a_record_without_device_or_threads_is_listed_with_question_marks(tmp_path):
    old = {k: v for k, v in TRAINED["stylesdf"].items() if k not in ("device", "threads")}
    text = zoo.zoo_table(RESULT, {**TRAINED, "stylesdf": old}, IMAGES, zoo.ZooSettings(models=[], out=tmp_path),
                         60.0, "cpu", "c")
    assert "Trainings ran on: gram cpu, 2 threads; stylesdf ?, ? threads." in text.splitlines()
    no_threads = {k: v for k, v in TRAINED["stylesdf"].items() if k != "threads"}
    text = zoo.zoo_table(RESULT, {**TRAINED, "stylesdf": no_threads}, IMAGES,
                         zoo.ZooSettings(models=[], out=tmp_path), 60.0, "cpu", "c")
    assert "Trainings ran on: gram cpu, 2 threads; stylesdf cpu, ? threads." in text.splitlines()
    # the row itself is the record's as ever
    assert "| stylesdf | no (2D upsampler) | ffhq1024 | 13000 | 17.9 | - | 63.1 (1) | n/a |" in text.splitlines()
