"""The first SIGINT/SIGTERM of a training run is answered as it arrives, while the step it lands in still runs: the run
stops after that step and writes its checkpoint, and a second signal of the kind stops it at once (docs/training.md,
"Signals"). It said nothing until the step ended (over a minute for one paper-size GRAM step on a CPU), so a user
pressed Ctrl-C again and lost the checkpoint. After the last step, while the run's last checkpoint and final grid are
written, it says the run stops once they are."""

from __future__ import annotations

import signal
import sys

import pytest
import safetensors.torch

from conftest import run_in_process
from zoo3d.train import engine

pytestmark = pytest.mark.usefixtures("single_thread")

STEP = ("Received {name}: the run stops after the current step, once it has written a checkpoint there; a second "
        "{again} stops it at once, keeping only the checkpoints written before.")
LAST = ("Received SIGTERM: the run stops once its last checkpoint and sample grid are written; a second SIGTERM stops "
        "it at once.")


def _lines(err: str) -> list[str]:
    """What the run said, less its progress lines."""
    return [line for line in err.splitlines() if line and not line.startswith(("training from", "main step"))]


@pytest.mark.parametrize("signum, again", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_the_first_signal_is_answered_during_the_step_it_lands_in(toy, capsys, monkeypatch, signum, again):
    step = engine.Trainer._train_step

    def signalled(self, stage):
        if self.step == 1:  # step 2
            signal.raise_signal(signum)
            print("step 2 still training", file=sys.stderr)
        return step(self, stage)

    monkeypatch.setattr(engine.Trainer, "_train_step", signalled)
    code, _, err = run_in_process(capsys, "train", "toy", "--out", "r", "--device", "cpu")
    name = signal.Signals(signum).name
    assert code == 128 + signum
    assert _lines(err) == [
        "Training toy in run folder r.",
        STEP.format(name=name, again=again),
        "step 2 still training",
        f"Received {name}: saved r/checkpoints/step_000000002.safetensors at step 2.",
        f"Stopped by {name} at step 2; checkpoint r/checkpoints/step_000000002.safetensors. Continue with: "
        f"zoo3d train toy --out r --resume --device cpu",
    ]


def test_a_signal_while_the_last_checkpoint_is_written_is_told_the_run_stops_once_it_is(toy, capsys, monkeypatch):
    real = safetensors.torch.save_file

    def save_file(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        if "step_000000006" in str(filename):
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    code, _, err = run_in_process(capsys, "train", "toy", "--out", "r", "--set", "train.checkpoint_every=0")
    assert code == 143
    assert _lines(err)[1:] == [LAST, "Received SIGTERM: saved r/checkpoints/step_000000006.safetensors at step 6.",
                               "Stopped by SIGTERM at step 6, the end of the run; checkpoint "
                               "r/checkpoints/step_000000006.safetensors. Nothing is left to train."]
