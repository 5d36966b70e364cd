"""A plain progress line (stderr no terminal: a log file, a pipe, CI) that falls between two metrics records shows the
means of the steps since the last record, the window being logged, not the last record's values: with a
``train.log_every`` of hundreds of steps a line a minute otherwise repeated one record, a whole window old."""

from __future__ import annotations

import io
import json
import re
from functools import partial

import pytest
from rich.console import Console

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.train import engine, progress
from zoo3d.train.engine import Trainer
from zoo3d.train.progress import TrainProgress


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_line_between_records_shows_the_open_window_s_means(toy, monkeypatch):
    every_step = Trainer(ToyModel(), toy_config(6, checkpoint_every=0, log_every=1), toy / "each", model_name="toy",
                         device="cpu", progress=False)
    assert every_step.run().status == "done"
    losses = [r["loss.D"] for r in _records(toy / "each")]  # the same steps: logging changes no weight

    out = io.StringIO()
    console = Console(file=out, width=400, force_terminal=False, color_system=None)
    monkeypatch.setattr(engine, "TrainProgress", partial(TrainProgress, console=console, plain=True))
    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.0)  # a line after every step
    windowed = Trainer(ToyModel(), toy_config(6, checkpoint_every=0, log_every=3), toy / "three", model_name="toy",
                       device="cpu", progress=True)
    assert windowed.run().status == "done"
    shown = {int(m.group(1)): float(m.group(2))
             for m in re.finditer(r"main step (\d)/6: .* loss\.D=(\S+)", out.getvalue())}
    assert sorted(shown) == [1, 2, 3, 4, 5, 6]
    for step, value in shown.items():
        start = (step - 1) // 3 * 3  # the window's first step, counted from 0
        mean = sum(losses[start:step]) / (step - start)
        assert value == pytest.approx(mean, rel=5e-3), step
    assert shown[4] != pytest.approx(shown[3], rel=5e-3)  # step 4 starts a window of its own
