"""metrics.jsonl around a NaN rollback: the records of the steps after the restored one are dropped (the run
logs them again as it redoes them), the rollback records stay, so each step is logged once."""

from __future__ import annotations

import json

import pytest

from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.launch import train_model
from zoo3d.train import engine
from zoo3d.train.engine import Trainer, TrainingDiverged, _kept_record

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_each_step_is_logged_once_around_a_rollback(toy):
    result = train_model("toy", out=toy / "run", overrides=["toy.nan_at_step=4"], progress=False)
    assert result.step == 6  # checkpoints at 3 and 6; step 5 fails and goes back to 3
    lines = _lines(toy / "run")
    assert [r.get("event", r["step"]) for r in lines] == [1, 2, 3, "nan_rollback", 4, 5, 6]
    assert (lines[3]["step"], lines[3]["restored_step"]) == (5, 3)


def test_a_diverged_run_keeps_every_rollback_record_and_its_last_try(toy):
    with pytest.raises(TrainingDiverged):
        train_model("toy", out=toy / "run", overrides=["toy.nan_at_step=4", "toy.nan_times=100",
                                                       "train.max_nan_rollbacks=2"], progress=False)
    lines = _lines(toy / "run")
    steps = [r["step"] for r in lines if "event" not in r]
    assert steps == [1, 2, 3, 4]  # the last try's step 4, once
    assert [r["rollback"] for r in lines if "event" in r] == [1, 2, 3]


def test_a_rollback_continues_the_open_log_window_of_the_restored_state(toy, monkeypatch):
    windows = []
    rollback = engine.Trainer._rollback

    def recorded(self, err, progress):
        rollback(self, err, progress)
        windows.append({k: n for k, (_, n) in self._log_sums.items()})

    monkeypatch.setattr(engine.Trainer, "_rollback", recorded)
    config = ToyConfig.model_validate({"train": {"log_every": 2, "checkpoint_every": 3}, "toy": {"nan_at_step": 4},
                                       "stages": [toy_stage(6).model_dump()]})
    Trainer(ToyModel(), config, toy / "run", model_name="toy", device="cpu", progress=False).run()
    assert windows == [{"d_adv": 1, "r1": 1, "loss.D": 1, "grad_norm.D": 1, "loss.G": 1, "grad_norm.G": 1}]
    assert [r.get("event", r["step"]) for r in _lines(toy / "run")] == [2, "nan_rollback", 4, 6]


def test_which_lines_stay_when_the_run_goes_back():
    step = lambda s: json.dumps({"step": s, "loss.G": 0.5})  # noqa: E731
    event = lambda failed, restored: json.dumps({"event": "nan_rollback", "step": failed,  # noqa: E731
                                                 "restored_step": restored})
    assert [_kept_record(step(s), 3, rollback=False) for s in (2, 3, 4)] == [True, True, False]
    assert not _kept_record('{"step": 2, "loss', 3, rollback=False)  # cut off by a crash
    # written before the state of step 3 was reached: stays; written after it (restored 3 or later): dropped
    assert [_kept_record(event(5, r), 3, rollback=False) for r in (2, 3, 4)] == [True, False, False]
    # a rollback to step 3 keeps the earlier rollbacks to it, which its count goes on from
    assert [_kept_record(event(5, r), 3, rollback=True) for r in (2, 3)] == [True, True]


class _Faults(ToyModel):
    """The toy model with a NaN loss once at each of the global steps ``at``."""

    def __init__(self, at):
        super().__init__()
        self.at = set(at)

    def _fault(self, ctx, loss):
        if ctx.step in self.at:
            self.at.discard(ctx.step)
            return loss * float("nan")
        return loss


@pytest.mark.parametrize("before, after", [([], [4]), ([1], [4])], ids=["nan after the checkpoint",
                                                                         "nan on both sides of it"])
def test_a_resumed_run_rolls_back_as_the_uninterrupted_run_does(toy, before, after):
    # The rollback point shared storage with Adam's state (Adam moved it in place), and the count of earlier
    # rollbacks, which seeds the streams after one, restarted at 0 on resume.
    from conftest import metrics_by_step

    def trainer(run_dir, at):
        cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 3, "keep_checkpoints": 50},
                                        "stages": [toy_stage(7).model_dump()]})
        return Trainer(_Faults(at), cfg, run_dir, model_name="toy", device="cpu", progress=False)

    trainer(toy / "whole", before + after).run()
    trainer(toy / "resumed", after).run(
        resume_from=toy / "whole" / "checkpoints" / "step_000000003.safetensors")
    whole, resumed = metrics_by_step(toy / "whole"), metrics_by_step(toy / "resumed")
    assert [resumed[s] for s in range(4, 8)] == [whole[s] for s in range(4, 8)]
