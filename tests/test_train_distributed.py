"""Multi-process training on the CPU (torchrun's agent, gloo, 2 processes): the same step as one process
with the whole batch, a 2-process run resumed by 1 process, and SIGTERM to one process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import distributed_harness as harness
from zoo3d.train.checkpoint import read_checkpoint, read_latest, read_metadata

TESTS = Path(__file__).resolve().parent
#: A tenth of one Adam step (every learning rate here is at least 2e-4): far above float rounding, far below
#: what a missing gradient average leaves (the two halves of the batch step differently, by ~1e-4).
ATOL = 2e-5


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    """GRAM (1 step) and pi-GAN (2 steps, a checkpoint each) trained by 2 processes with global batch 4."""
    root = tmp_path_factory.mktemp("two_processes")
    jobs = [f"gram:{root / 'gram'}:1", f"pigan:{root / 'pigan'}:2"]
    proc = harness.launch_two(jobs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _tensors(run: Path, step: int) -> tuple[dict, dict]:
    return read_checkpoint(run / "checkpoints" / f"step_{step:09d}.safetensors")


def _assert_same_models(a: dict, b: dict, moved_from: dict | None = None) -> None:
    keys = [k for k in a if k.startswith(("generator.", "modules.discriminator."))]
    assert any(k.startswith("generator.") for k in keys) and any(k.startswith("modules.") for k in keys)
    for k in keys:
        torch.testing.assert_close(a[k], b[k], atol=ATOL, rtol=0, msg=lambda m: f"{k}: {m}")
    if moved_from is not None:  # the step moved both players by more than the tolerance
        for prefix in ("generator.", "modules.discriminator."):
            moved = max((a[k] - moved_from[k]).abs().max().item() for k in keys if k.startswith(prefix))
            assert moved > 5 * ATOL, (prefix, moved)


def _losses(run: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in records if "event" not in r}


@pytest.mark.parametrize("model", ["gram", "pigan"])
def test_one_step_on_two_processes_equals_one_process_with_the_whole_batch(model, two_process_runs, tmp_path,
                                                                           single_thread):
    harness.train(model, tmp_path / "one", 1)
    two, meta = _tensors(two_process_runs / model, 1)
    one, _ = _tensors(tmp_path / "one", 1)
    assert meta["zoo3d.world_size"] == "2"
    _assert_same_models(two, one, moved_from=harness.initial_state(model))
    for key in ("loss.discriminator", "loss.generator"):  # the mean over the processes is the batch's loss
        assert _losses(two_process_runs / model)[1][key] == pytest.approx(_losses(tmp_path / "one")[1][key], rel=1e-5)


def test_a_two_process_run_resumes_in_one_process(two_process_runs, tmp_path, capfd, single_thread):
    run = tmp_path / "resumed"
    shutil.copytree(two_process_runs / "pigan", run)
    assert read_metadata(read_latest(run))["zoo3d.step"] == "2"
    result = harness.train("pigan", run, 4, resume_from=read_latest(run))
    assert "written by 2 processes with 1 process" in capfd.readouterr().err
    straight = harness.train("pigan", tmp_path / "straight", 4)
    assert result.step == 4 and straight.step == 4
    final, meta = read_checkpoint(result.checkpoint)
    assert meta["zoo3d.world_size"] == "1" and meta["zoo3d.step"] == "4"
    first, _ = _tensors(tmp_path / "straight", 1)
    _assert_same_models(final, read_checkpoint(straight.checkpoint)[0], moved_from=first)
    resumed, expected = _losses(run), _losses(tmp_path / "straight")
    assert sorted(resumed) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):  # steps 1-2 from two processes (their mean), 3-4 from one
        for key in ("loss.discriminator", "loss.generator"):
            assert resumed[step][key] == pytest.approx(expected[step][key], rel=1e-4), (step, key)
    assert expected[3]["loss.discriminator"] != expected[4]["loss.discriminator"]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(e.split(b"=", 1)[1]) for e in env if e.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _signal_rank_one(run: Path, signum: int) -> tuple[subprocess.Popen, str, float, list[int]]:
    """``zoo3d train toy --nproc 2``; once it logs a step, send ``signum`` to rank 1 and wait for the end.

    Returns the launcher process, its stderr, the seconds from the signal to its exit, and the workers' pids.
    """
    env = harness.clean_env(ZOO3D_PLUGINS="toy_model",
                            PYTHONPATH=f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen([sys.executable, "-m", "zoo3d", "train", "toy", "--nproc", "2", "--out", str(run),
                             "--quiet", "--set", "stages.main.steps=100000", "--set", "train.checkpoint_every=0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "metrics.jsonl").exists() and proc.poll() is None:
            time.sleep(0.1)
        assert (run / "metrics.jsonl").exists(), proc.communicate(timeout=60)[1][-3000:]
        workers = _children(proc.pid)
        rank1 = [pid for pid in workers if _rank_of(pid) == 1]
        assert len(workers) == 2 and len(rank1) == 1, workers
        os.kill(rank1[0], signum)
        sent = time.time()
        _, stderr = proc.communicate(timeout=90)
        return proc, stderr, time.time() - sent, workers
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def test_sigterm_to_one_process_checkpoints_and_stops_every_process(tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc, stderr, took, workers = _signal_rank_one(run, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert took < 60, took
    assert "Stopped by SIGTERM" in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert f"Continue with: zoo3d train toy --out {run} --resume --nproc 2" in stderr, stderr[-3000:]
    assert not [pid for pid in workers if _alive(pid)]
    latest = read_latest(run)
    tensors, meta = read_checkpoint(latest)
    assert meta["zoo3d.world_size"] == "2" and int(meta["zoo3d.step"]) >= 1
    assert "rng.rank1.train" in tensors  # rank 1's own stream, for a resume with 2 processes
    assert len(json.loads(meta["zoo3d.log_sums"])) == 2  # and its open log window

    from toy_model import use_toy
    from zoo3d.runs import load_model

    use_toy(monkeypatch, tmp_path / "runs")
    assert load_model(str(run)).step == int(meta["zoo3d.step"])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def test_a_process_that_dies_stops_the_others_with_its_name(tmp_path):
    proc, stderr, took, workers = _signal_rank_one(tmp_path / "run", signal.SIGKILL)
    assert proc.returncode != 0 and took < 60, (proc.returncode, took)
    assert "rank 1" in stderr and "killed by SIGKILL" in stderr, stderr[-3000:]
    assert "another process of the run exited" in stderr  # rank 0's own sentence, not a backend traceback
    assert "Traceback" not in stderr
    assert not [pid for pid in workers if _alive(pid)]
