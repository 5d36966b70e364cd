"""``train.log_every``, ``train.checkpoint_every`` and ``train.sample_every`` say when the engine writes, not what
it trains (docs/training.md, "The recipe the engine runs", 5): with ``train.seed`` fixed, runs that differ only in
them end with the same weights, EMA and optimiser states, tensor for tensor."""

from __future__ import annotations

import pytest
import torch

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.core.model import LossResult
from zoo3d.train.engine import Trainer


class NoisyToy(ToyModel):
    """The stand-in whose generator loss also draws from torch's global stream (as a renderer's ray jitter does),
    so that anything else drawing from that stream between steps would change the run."""

    def stages(self, config):
        stages = super().stages(config)
        g = next(p for p in stages[0].phases if p.name == "G")
        loss = g.loss

        def jittered(ctx):
            result = loss(ctx)
            bias = ctx.generator.net[0].bias
            return LossResult(result.loss + 1e-2 * (torch.randn(bias.shape) * bias).sum(), result.logs)

        g.loss = jittered
        return stages


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _trained(run_dir, **intervals):
    """The run's state after 6 steps, without the RNG states (a sample grid draws under a fork of them) and with the
    toy's lazy R1 every 2 steps, so that the steps differ in what they train."""
    config = toy_config(6, keep_checkpoints=10, **intervals)
    config.toy.r1_interval = 2
    trainer = Trainer(NoisyToy(), config, run_dir, model_name="toy", device="cpu", progress=False)
    assert trainer.run().status == "done"
    tensors, _ = trainer.state_tensors()
    return {k: v for k, v in tensors.items() if not k.startswith("rng.")}, trainer


def test_writing_more_or_less_often_trains_the_same_run(toy):
    quiet, first = _trained(toy / "quiet", log_every=10, checkpoint_every=0, sample_every=0)
    busy, second = _trained(toy / "busy", log_every=1, checkpoint_every=1, sample_every=1)
    assert len(list((toy / "busy" / "samples").iterdir())) == 6 and len(list((toy / "quiet" / "samples").iterdir())) == 1
    assert len(list((toy / "busy" / "checkpoints").iterdir())) == 6
    assert sorted(quiet) == sorted(busy) and any(k.startswith("optim.") for k in quiet)
    for key, value in quiet.items():
        assert value.equal(busy[key]), key
    torch.manual_seed(first.config.train.seed)  # the generator as the trainer built it: training moved it
    start = ToyModel().build(first.config)["generator"]
    assert any(not p.equal(q) for p, q in zip(start.parameters(), first.modules["generator"].parameters()))
