"""A stop or a checkpoint between two metrics records (``train.log_every`` > 1): the resumed run averages the
same steps into its next record as an uninterrupted run, because the checkpoint holds the open window's sums."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import metrics_by_step
from toy_model import ToyModel, signal_during_step, toy_config, use_toy
from zoo3d.train.checkpoint import read_metadata
from zoo3d.train.distributed import World
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _run(run_dir, resume_from=None, **train):
    config = toy_config(8, log_every=4, **train)
    return Trainer(ToyModel(), config, run_dir, model_name="toy", device="cpu", progress=False).run(resume_from)


def test_a_signal_inside_a_log_window_resumes_to_the_same_records(toy, monkeypatch):
    straight = _run(toy / "straight", checkpoint_every=0)
    assert straight.status == "done"
    with monkeypatch.context() as patch:
        signal_during_step(patch, 3)
        stopped = _run(toy / "resumed", checkpoint_every=0)
    assert (stopped.status, stopped.step) == ("interrupted", 3)
    assert not (toy / "resumed" / "metrics.jsonl").exists()  # steps 1-3 are still an open window
    window = json.loads(read_metadata(stopped.checkpoint)["zoo3d.log_sums"])
    assert [sorted(w) for w in window] == [["d_adv", "grad_norm.D", "grad_norm.G", "loss.D", "loss.G", "r1"]]
    assert {n for w in window for _, n, _ in w.values()} == {3}
    resumed = _run(toy / "resumed", resume_from=stopped.checkpoint, checkpoint_every=0)
    assert resumed.step == 8
    a, b = metrics_by_step(toy / "straight"), metrics_by_step(toy / "resumed")
    assert sorted(a) == sorted(b) == [4, 8]
    assert a == b
    assert a[4]["loss.D"] != a[8]["loss.D"]  # the comparison is not between constants


def test_a_regular_checkpoint_inside_a_window_resumes_to_the_same_records(toy):
    straight = _run(toy / "straight", checkpoint_every=3)
    mid = toy / "straight" / "checkpoints" / "step_000000003.safetensors"
    resumed = _run(toy / "resumed", resume_from=mid, checkpoint_every=3)
    assert straight.step == resumed.step == 8
    assert metrics_by_step(toy / "straight") == metrics_by_step(toy / "resumed")


def test_each_process_takes_its_own_window_back_or_the_processes_mean(toy):
    trainer = Trainer(ToyModel(), toy_config(4), toy / "run", model_name="toy", device="cpu", progress=False)
    mine = {"loss.G": [1.5, 3, True], "lr": [0.25, 3, False]}
    theirs = {"loss.G": [2.5, 3, True], "lr": [0.75, 3, False]}
    meta = {"zoo3d.log_sums": json.dumps([mine, theirs])}
    trainer.world = World(rank=1, size=2)
    trainer._restore_logs(meta)
    assert trainer._log_sums["lr"] == [0.75, 3]
    assert isinstance(trainer._log_sums["loss.G"][0], torch.Tensor) and trainer._log_sums["loss.G"][0].item() == 2.5
    trainer.world = World()  # one process continues a two-process run: the processes' mean window
    trainer._restore_logs(meta)
    assert trainer._log_sums["lr"] == [0.5, 3] and trainer._log_sums["loss.G"][0].item() == 2.0
    trainer._restore_logs({})  # a checkpoint from before the key existed: an empty window
    assert trainer._log_sums == {}
