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
    for text in ('get_model_spec("gram")', '"tiny")', '"runs/bench-scratch"', "trainer.bench_step(stage)"):
        assert text in block, f"the Speed block no longer holds {text}, which this test replaces"
    block = block.replace('get_model_spec("gram")', 'get_model_spec("toy")').replace('"tiny")', "None)")
    block = block.replace('"runs/bench-scratch"', repr(str(tmp_path / "bench-scratch")))
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)  # a relative path the script writes to lands here, where it is looked for
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
    assert list(tmp_path.iterdir()) == []  # no bench-scratch run folder, no runs/ folder, nothing else
