"""docs/training.md's Speed block, a script that times training steps with ``zoo3d.train.engine.Trainer``, runs as
written.

The block is executed with its model (``"gram"``) replaced by the test stand-in ``toy`` and its preset by the toy's
class defaults: after ``enter_stage`` and one ``bench_step`` the step counters read 1, as the comment says, the
generator has taken a step (its weights moved), and no run folder was written (no logs, grids or checkpoints).
"""

from __future__ import annotations

import re

import torch

from conftest import REPO
from toy_model import one_thread, use_toy


def test_the_speed_blocks_script_takes_one_training_step(monkeypatch, tmp_path):
    page = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", page.split("\n## Speed\n", 1)[1], re.S).group(1)
    assert 'get_model_spec("gram")' in block and '"tiny")' in block
    block = block.replace('get_model_spec("gram")', 'get_model_spec("toy")').replace('"tiny")', "None)")
    block = block.replace('"runs/bench-scratch"', repr(str(tmp_path / "bench-scratch")))
    use_toy(monkeypatch, tmp_path / "runs")
    before: dict = {}

    def remember(trainer):
        before.update({k: v.clone() for k, v in trainer.modules["generator"].state_dict().items()})

    scope: dict = {"remember": remember}
    with one_thread():
        torch.manual_seed(0)
        exec(block.replace("trainer.bench_step(stage)", "remember(trainer); trainer.bench_step(stage)"), scope)
    trainer = scope["trainer"]
    assert (trainer.step, trainer.stage_step) == (1, 1)
    after = trainer.modules["generator"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)
    assert not (tmp_path / "bench-scratch").exists() and not (tmp_path / "runs").exists()
