"""A phase's ``LossResult.logs`` are numbers or one-element tensors, averaged into metrics.jsonl: any other value
(a text, a per-image tensor) is refused in one sentence at the step that logs it, where the run used to stop with
a traceback from ``float()`` (a text at once, a tensor of several values at the first record)."""

from __future__ import annotations

import json

import pytest
import torch

from toy_model import ToyModel, one_thread, toy_config, use_toy
from zoo3d.core.model import LossResult
from zoo3d.errors import PluginError
from zoo3d.train.engine import Trainer


class Logging(ToyModel):
    """The stand-in whose generator phase adds ``extra`` to its logs (a function of the call's count, from 1, or a
    dict)."""

    def __init__(self, extra):
        super().__init__()
        self.extra = extra
        self.calls = 0

    def stages(self, config):
        stages = super().stages(config)
        g = next(p for p in stages[0].phases if p.name == "G")
        loss = g.loss

        def logged(ctx):
            result = loss(ctx)
            self.calls += 1
            extra = self.extra(self.calls) if callable(self.extra) else self.extra
            return LossResult(result.loss, {**result.logs, **extra})

        g.loss = logged
        return stages


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield tmp_path


def _run(run_dir, extra, log_every=4):
    config = toy_config(4, checkpoint_every=0, log_every=log_every)
    return Trainer(Logging(extra), config, run_dir, model_name="toy", device="cpu", progress=False).run()


@pytest.mark.parametrize("extra, what", [({"kind": "fake"}, "str 'fake'"),
                                         ({"per_image": torch.ones(4)}, "a tensor of shape (4,)")])
def test_a_log_that_is_no_number_is_refused_in_one_sentence(toy, extra, what):
    with pytest.raises(PluginError) as err:
        _run(toy / "run", extra)
    key = next(iter(extra))
    assert str(err.value) == (f"The phase log '{key}' is {what}, not a number; a phase's LossResult.logs hold numbers "
                              f"or one-element tensors, which metrics.jsonl averages.")


def test_numbers_flags_and_one_element_tensors_are_averaged(toy):
    """Each value changes from step to step, so the record is their mean over the 4 steps, not the last one."""
    result = _run(toy / "run", lambda n: {"count": n, "flag": n % 2 == 1, "scalar": torch.tensor([n / 2])},
                  log_every=4)
    assert result.status == "done"
    record = json.loads((toy / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 4
    assert (record["count"], record["flag"], record["scalar"]) == (2.5, 0.5, 1.25)  # means of 1..4, T F T F, .5..2
