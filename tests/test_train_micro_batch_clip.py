"""Gradient clipping under ``train.micro_batch`` clips the step's gradient, the chunks' summed by size, to the
global L2 norm (docs/training.md, "The recipe the engine runs", 3): a split step with clipping is the whole step
with clipping, and the clipped gradient is the unclipped one times clip / its norm."""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from test_train_micro_batch import PerImage
from toy_model import ToyConfig, toy_stage, use_toy
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

CLIP = 1e-3


class ClippedPerImage(PerImage):
    """The per-image stand-in (fakes made from the reals, no noise) with both optimisers clipped at ``clip``."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def stages(self, config):
        (stage,) = super().stages(config)
        for spec in stage.optimizers.values():
            spec.grad_clip = self.clip
        return [stage]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _step(run_dir, micro_batch, clip):
    """One step on 5 images (chunks of 2, 2 and 1 when split): each optimiser's gradient as it stepped."""
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, "micro_batch": micro_batch},
                                    "stages": [toy_stage(1, batch_size=5).model_dump()]})
    trainer = Trainer(ClippedPerImage(clip), cfg, run_dir, model_name="toy", device="cpu", progress=False)
    trainer._begin_stage(trainer.stages[0], fresh=True)
    stepped = {}

    def record(optimizer, args, kwargs):
        name = next(n for n, o in trainer.optimizers.items() if o is optimizer)
        stepped[name] = torch.cat([p.grad.flatten() for g in optimizer.param_groups for p in g["params"]]).clone()

    handle = register_optimizer_step_pre_hook(record)
    try:
        logs = trainer._train_step(trainer.stages[0])
    finally:
        handle.remove()
    return stepped, logs


def test_a_split_step_clips_the_summed_gradient_as_the_whole_step_does(toy):
    free, free_logs = _step(toy / "free", None, None)
    whole, _ = _step(toy / "whole", None, CLIP)
    split, split_logs = _step(toy / "split", 2, CLIP)
    # D steps first, so its unclipped gradient is the free run's (G's follows a D that moved by less)
    assert free["D"].norm() > 10 * CLIP  # far above the clip: clipping acts
    torch.testing.assert_close(whole["D"], free["D"] * (CLIP / free["D"].norm()), rtol=1e-4, atol=1e-12)
    assert float(split_logs["grad_norm.D"]) == pytest.approx(float(free_logs["grad_norm.D"]), rel=1e-5)  # unclipped
    for name in ("D", "G"):
        assert float(split_logs[f"grad_norm.{name}"]) > 10 * CLIP
        assert whole[name].norm().item() == pytest.approx(CLIP, rel=1e-4)
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-10)
