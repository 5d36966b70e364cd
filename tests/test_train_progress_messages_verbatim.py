"""What training says mid-run beside its progress (a stop by signal and the checkpoint it saved, a NaN rollback) is
the text as written, on one line: a run folder named ``exp[v2]`` keeps its brackets (they are no markup, and
``[/x]`` no error), and a long path in a batch job's log file is not cut at 80 columns."""

from __future__ import annotations

import io
import signal

import pytest
from rich.console import Console

from conftest import run_in_process
from toy_model import use_toy
from zoo3d.train import engine
from zoo3d.train.checkpoint import checkpoint_name
from zoo3d.train.progress import TrainProgress

pytestmark = pytest.mark.usefixtures("single_thread")

MESSAGE = ("Received SIGTERM: saved /scratch/user/experiments/runs [v2]/lr[/x] sweep/checkpoints/"
           "step_000000006.safetensors at step 6.")


@pytest.mark.parametrize("plain", [True, False])
def test_a_message_is_printed_as_written_on_one_line_in_plain_lines_and_beside_the_bar(plain):
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=False, color_system=None)
    with TrainProgress(10, console=console, plain=plain) as p:
        p.log(MESSAGE)
        p.log("Non-finite loss in phase 'D' at step 3: rolled back to step 2 (1/3).", style="yellow")
    lines = out.getvalue().splitlines()
    assert MESSAGE in lines
    assert "Non-finite loss in phase 'D' at step 3: rolled back to step 2 (1/3)." in lines


def test_a_run_stopped_by_a_signal_names_the_checkpoint_it_saved_whole(monkeypatch, tmp_path, capsys):
    use_toy(monkeypatch, tmp_path / "runs")
    step = engine.Trainer._train_step

    def stopping(self, stage):
        if self.step == 1:
            signal.raise_signal(signal.SIGTERM)
        return step(self, stage)

    monkeypatch.setattr(engine.Trainer, "_train_step", stopping)
    run = tmp_path / "experiments [v2]" / "a run folder whose name makes the line longer than 80 columns"
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "4")
    assert code == 128 + signal.SIGTERM, err
    saved = run / "checkpoints" / checkpoint_name(2)
    assert saved.is_file()
    assert f"Received SIGTERM: saved {saved} at step 2." in err.splitlines()
