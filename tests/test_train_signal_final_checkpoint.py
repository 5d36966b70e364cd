"""A signal that lands after the run's last step has been checked, while its last checkpoint (or its final sample grid)
is being written: the write finishes whole, as the handler only notes the signal, and then ``zoo3d train`` exits with
128 + the signal's number as for a signal anywhere else in the run (docs/training.md, "Signals"). It exited 0 with
"Trained 6 steps", so a script could not tell that the user had pressed Ctrl-C.

The signal is raised from inside the write (a patched ``safetensors.torch.save_file``, after the temporary file holds
the tensors and before it is moved into place; a patched ``write_samples`` for the grid), not by timing."""

from __future__ import annotations

import signal

import pytest
import safetensors.torch

from conftest import run_in_process
from zoo3d.train import engine
from zoo3d.train.checkpoint import read_checkpoint

pytestmark = pytest.mark.usefixtures("single_thread")

SET = [f"--set={s}" for s in ("train.sample_every=4", "train.checkpoint_every=0")]  # one checkpoint: step 6's
LAST = "checkpoints/step_000000006.safetensors"


def _signal_inside_the_checkpoint_write(monkeypatch, signum, seen):
    real = safetensors.torch.save_file

    def save_file(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)  # the temporary file, not yet renamed into place
        seen.append(filename)
        signal.raise_signal(signum)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


def _same_checkpoints(a, b):
    (ta, ma), (tb, mb) = read_checkpoint(a), read_checkpoint(b)
    assert sorted(ta) == sorted(tb) and all(ta[k].equal(tb[k]) for k in ta)
    assert ma["zoo3d.step"] == mb["zoo3d.step"] == "6"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_last_checkpoint_write_exits_with_its_status(toy, capsys, monkeypatch, signum):
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "straight", "--device", "cpu", "--quiet", *SET)
    assert (code, err) == (0, "")  # without a signal: status 0
    assert out == f"Trained 6 steps on cpu; run folder straight, checkpoint straight/{LAST}.\n"
    seen = []
    with monkeypatch.context() as patch:
        _signal_inside_the_checkpoint_write(patch, signum, seen)
        code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet", *SET)
    assert len(seen) == 1  # the one write, at the run's end: the signal came after step 6 was checked
    name = signal.Signals(signum).name
    assert (code, out) == (128 + signum, "")
    assert err == f"Stopped by {name} at step 6, the end of the run; checkpoint r/{LAST}. Nothing is left to train.\n"
    _same_checkpoints(toy / "r" / LAST, toy / "straight" / LAST)  # written whole, and the same as without the signal
    assert sorted(p.name for p in (toy / "r" / "checkpoints").iterdir()) == ["step_000000006.safetensors"]
    assert (toy / "r" / "latest").read_text() == f"{LAST}\n"
    for grid in ("step_000000004.png", "step_000000006.png"):  # the final grid is drawn, as after a full run
        assert (toy / "r" / "samples" / grid).read_bytes() == (toy / "straight" / "samples" / grid).read_bytes()


def test_a_signal_during_the_final_grid_exits_with_its_status(toy, capsys, monkeypatch):
    real = engine.Trainer.write_samples

    def write_samples(self):
        path = real(self)
        if self.step == 6:
            signal.raise_signal(signal.SIGINT)
        return path

    monkeypatch.setattr(engine.Trainer, "write_samples", write_samples)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet", *SET)
    assert (code, out) == (130, "")
    assert err == f"Stopped by SIGINT at step 6, the end of the run; checkpoint r/{LAST}. Nothing is left to train.\n"
    assert sorted(p.name for p in (toy / "r" / "samples").iterdir()) == ["step_000000004.png", "step_000000006.png"]
