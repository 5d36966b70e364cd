"""A stop signal that reaches the data loader's worker processes too, as a terminal's Ctrl-C (the whole foreground
process group) and a scheduler's SIGTERM (every process of the job) do.

docs/training.md: SIGINT/SIGTERM finish the current step, write a checkpoint and exit with 128 + the signal. With
``data.num_workers`` > 0 the workers got the same signal; SIGTERM killed them, and torch's loader then raised
"DataLoader worker ... is killed by signal" in the training process (a traceback, no checkpoint). The workers now
leave the stop to the training process, which still needs them for the batch of the step it finishes.
"""

from __future__ import annotations

import os
import signal

import pytest

from conftest import metrics_by_step
from toy_model import use_toy
from zoo3d.launch import train_model
from zoo3d.train import engine
from zoo3d.train.checkpoint import read_metadata

pytestmark = pytest.mark.usefixtures("single_thread")

SET = ["data.num_workers=1", "train.checkpoint_every=0", "stages.main.steps=6"]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _workers(trainer) -> list:
    return [w for stream in trainer._streams.values() if stream._iter is not None for w in stream._iter._workers]


def _group_signal_before_step(monkeypatch, at: int, signum: int, seen: list) -> None:
    """``signum`` reaches the loader's workers and this process as step ``at`` (from 1) begins, before its batch is
    read: the step can finish only if the workers still serve it."""
    step = engine.Trainer._train_step

    def signalled(self, stage):
        if self.step + 1 == at:
            workers = _workers(self)
            assert workers and all(w.is_alive() for w in workers)
            for w in workers:
                os.kill(w.pid, signum)
            seen.extend(workers)
            signal.raise_signal(signum)
        return step(self, stage)

    monkeypatch.setattr(engine.Trainer, "_train_step", signalled)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_to_the_data_workers_too_still_ends_in_a_checkpoint(toy, monkeypatch, signum):
    straight = train_model("toy", out=toy / "straight", overrides=SET, progress=False)
    assert straight.status == "done"
    seen = []
    with monkeypatch.context() as patch:
        _group_signal_before_step(patch, 4, signum, seen)
        stopped = train_model("toy", out=toy / "run", overrides=SET, progress=False)
    assert (stopped.status, stopped.signal, stopped.step) == ("interrupted", signal.Signals(signum).name, 4)
    assert seen and all(w.exitcode in (None, 0) for w in seen)  # not killed by it: running, or ended by the loader
    assert read_metadata(stopped.checkpoint)["zoo3d.step"] == "4"
    resumed = train_model("toy", out=toy / "run", resume=True, progress=False)
    assert (resumed.status, resumed.step) == ("done", 6)
    assert metrics_by_step(toy / "run") == metrics_by_step(toy / "straight")
