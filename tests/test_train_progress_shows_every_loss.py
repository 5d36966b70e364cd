"""The progress bar shows "the latest losses" (docs/training.md, Progress): every phase's loss leads the values it
shows, so a discriminator phase that logs more than the bar's six values (GRAM's logs ten) does not push the
generator's loss off it."""

from __future__ import annotations

import io
import json
from functools import partial

import pytest
from rich.console import Console

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.core.model import LossResult
from zoo3d.train import engine
from zoo3d.train.engine import Trainer
from zoo3d.train.progress import TrainProgress


class TalkativeDiscriminator(ToyModel):
    """The stand-in whose discriminator phase (first, as GRAM's) logs six values of its own besides its loss."""

    def stages(self, config):
        stages = super().stages(config)
        d = next(p for p in stages[0].phases if p.name == "D")
        loss = d.loss

        def talkative(ctx):
            result = loss(ctx)
            return LossResult(result.loss, {**result.logs, **{f"d_log{i}": float(i) for i in range(6)}})

        d.loss = talkative
        return stages


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def test_the_bar_shows_the_loss_of_every_phase(toy, monkeypatch):
    out = io.StringIO()
    console = Console(file=out, width=400, force_terminal=False, color_system=None)
    monkeypatch.setattr(engine, "TrainProgress", partial(TrainProgress, console=console, plain=False))
    trainer = Trainer(TalkativeDiscriminator(), toy_config(2, checkpoint_every=0), toy / "run", model_name="toy",
                      device="cpu", progress=True)
    assert trainer.run().status == "done"
    shown = dict(word.split("=") for word in out.getvalue().splitlines()[-1].split() if "=" in word)
    assert len(shown) == 6  # the bar shows six values
    assert list(shown)[:2] == ["loss.D", "loss.G"]
    last = json.loads((toy / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("loss.D", "loss.G"):  # the step's logged values, as the bar rounds them
        assert float(shown[key]) == pytest.approx(last[key], rel=5e-3)
