"""``train.ema_rampup`` across a resume: the update count is in the checkpoint, so a run resumed in the middle of
the ramp averages as the uninterrupted one (the straight run's closed form: test_train_engine_wiring.py)."""

from __future__ import annotations

import math

import pytest
import torch

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.train.engine import Trainer

DECAY, RAMPUP = 0.9, 0.3  # half-life 6.6 steps, reached by (n - 1) x 0.3 only at n = 23: all 8 updates ramp


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _run(run_dir, steps, resume_from=None):
    config = toy_config(steps, ema_decay=DECAY, ema_rampup=RAMPUP, checkpoint_every=3)
    trainer = Trainer(ToyModel(), config, run_dir, model_name="toy", device="cpu", progress=False)
    return trainer, trainer.run(resume_from)


def _flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_a_run_resumed_inside_the_ramp_averages_as_the_uninterrupted_one(toy):
    assert 8 * RAMPUP < math.log(0.5) / math.log(DECAY)  # the whole run lies inside the ramp
    straight, _ = _run(toy / "straight", 8)
    _, stopped = _run(toy / "resumed", 3)
    resumed, _ = _run(toy / "resumed", 8, resume_from=stopped.checkpoint)
    assert resumed.ema_updates == straight.ema_updates == 8
    torch.testing.assert_close(_flat(resumed.ema), _flat(straight.ema), rtol=0, atol=0)


def test_the_ramp_would_start_again_without_the_stored_count(toy, monkeypatch):
    """The check above has teeth: a resume that lost the count ramps again, its first update copying the generator."""
    straight, _ = _run(toy / "straight", 8)
    _, stopped = _run(toy / "resumed", 3)
    resume = Trainer._resume

    def forgetful(self, path):
        resume(self, path)
        self.ema_updates = 0

    monkeypatch.setattr(Trainer, "_resume", forgetful)
    resumed, _ = _run(toy / "resumed", 8, resume_from=stopped.checkpoint)
    assert resumed.ema_updates == 5
    assert (_flat(resumed.ema) - _flat(straight.ema)).abs().max() > 1e-4
