"""A resume whose new ``--steps`` ends the checkpoint's stage where it stands, inside a ``train.log_every`` window.

docs/training.md: each ``metrics.jsonl`` record averages the steps since the previous one, "a stage's last step ends
its window early", and each step is logged at most once. A stop at step 7 of a stage of 10 (records every 4 steps)
leaves steps 5-7 in an open window; resumed with a cap that gives the first stage 6 steps, that stage is over and
step 7 was its last, so those steps are its record at step 7 (stage ``first``), not part of the next stage's record.
"""

from __future__ import annotations

import json

import pytest

from conftest import metrics_by_step
from toy_model import signal_during_step, use_toy
from zoo3d.launch import train_model
from zoo3d.train import engine
from zoo3d.train.schedule import split_steps

pytestmark = pytest.mark.usefixtures("single_thread")

#: Two stages of 10 steps (the toy halves its one configured stage), a record every 4 steps.
SET = ["toy.stages=2", "stages.main.steps=20", "train.log_every=4", "train.checkpoint_every=0"]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _step_losses(monkeypatch, seen: list) -> None:
    """Record (step completed, stage, loss.D) of every step the engine trains, as it adds them to the log window."""
    accumulate = engine.Trainer._accumulate

    def recording(self, logs):
        seen.append((self.step, self.stages[self.stage_index].name, float(logs["loss.D"])))
        return accumulate(self, logs)

    monkeypatch.setattr(engine.Trainer, "_accumulate", recording)


def _stopped_at_7(toy, monkeypatch, seen):
    with monkeypatch.context() as patch:
        signal_during_step(patch, 7)
        _step_losses(patch, seen)
        stopped = train_model("toy", out=toy / "run", overrides=SET, progress=False)
    assert (stopped.status, stopped.step) == ("interrupted", 7)
    assert sorted(metrics_by_step(toy / "run")) == [4]  # steps 5-7 are an open window in the checkpoint


def test_a_cap_that_ends_the_stage_at_the_checkpoint_closes_its_window_there(toy, monkeypatch):
    seen = []
    _stopped_at_7(toy, monkeypatch, seen)
    assert split_steps([10, 10], 12) == [6, 6]  # under --steps 12 the first stage ends at step 6
    with monkeypatch.context() as patch:
        _step_losses(patch, seen)
        resumed = train_model("toy", out=toy / "run", steps=12, resume=True, progress=False)
    assert (resumed.status, resumed.step) == ("done", 12)
    assert [s for s, _, _ in seen] == list(range(1, 13))  # every step trained once, in order
    records = metrics_by_step(toy / "run")
    assert sorted(records) == [4, 7, 8, 12]  # 7: the first stage's last step; 8 and 12 the second's windows
    mean = lambda steps: sum(loss for s, _, loss in seen if s in steps) / len(steps)
    for step, stage, steps in ((4, "first", [1, 2, 3, 4]), (7, "first", [5, 6, 7]), (8, "second", [8]),
                               (12, "second", [9, 10, 11, 12])):
        assert records[step]["stage"] == stage
        assert records[step]["loss.D"] == pytest.approx(mean(steps), rel=1e-6), step
    assert {stage for s, stage, _ in seen if s in (5, 6, 7)} == {"first"}


def test_a_second_resume_from_the_same_checkpoint_logs_the_closed_window_once(toy, monkeypatch):
    """The record at step 7 is written after the checkpoint of step 7 (whose window it closes): resumed from that
    checkpoint again, the run drops it and writes it again, once."""
    _stopped_at_7(toy, monkeypatch, [])
    with monkeypatch.context() as patch:
        signal_during_step(patch, 9)  # stopped again before the next checkpoint ...
        patch.setattr(engine.Trainer, "save_checkpoint", lambda self: self.last_checkpoint)
        train_model("toy", out=toy / "run", steps=12, resume=True, progress=False)
    assert sorted(metrics_by_step(toy / "run")) == [4, 7, 8]
    assert (toy / "run" / "latest").read_text().strip().endswith("step_000000007.safetensors")  # ... so from 7
    train_model("toy", out=toy / "run", steps=12, resume=True, progress=False)
    steps = [json.loads(line)["step"] for line in (toy / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [4, 7, 8, 12]


def test_a_cap_at_the_checkpoint_trains_nothing_and_closes_the_window_there(toy, monkeypatch):
    """Resumed with ``--steps 7``, the run ends at its checkpoint: nothing to train, and steps 5-7, its stage's last
    window, are its last record instead of being lost."""
    seen = []
    _stopped_at_7(toy, monkeypatch, seen)
    again = train_model("toy", out=toy / "run", steps=7, resume=True, progress=False)
    assert (again.status, again.step, again.start_step) == ("done", 7, 7)
    records = metrics_by_step(toy / "run")
    assert sorted(records) == [4, 7]
    assert records[7]["stage"] == "first"
    assert records[7]["loss.D"] == pytest.approx(sum(loss for s, _, loss in seen if s in (5, 6, 7)) / 3, rel=1e-6)
