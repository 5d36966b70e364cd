"""A signal that lands while a periodic or stage-end checkpoint (or a periodic sample grid) is being written stops the
run there, on the checkpoint just written (whole: the handler only notes it). The run trained one more step and wrote
another checkpoint first, a whole step's wait (minutes, on a CPU at a paper preset) after the user had been told it
stops after the current step."""

from __future__ import annotations

import signal

import pytest
import safetensors.torch

from conftest import run_in_process

pytestmark = pytest.mark.usefixtures("single_thread")

#: what the run says, stopped on step 2's checkpoint
STOPPED_AT_2 = ("Stopped by SIGINT at step 2; checkpoint r/checkpoints/step_000000002.safetensors. Continue with: "
                "zoo3d train toy --out r --resume\n")


def _signal_while_step_2_is_saved(monkeypatch) -> list[str]:
    """Raise SIGINT as step 2's checkpoint is written (once it is whole); the steps of the checkpoints written."""
    real, written = safetensors.torch.save_file, []

    def save_file(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        written.append(metadata["zoo3d.step"])
        if metadata["zoo3d.step"] == "2":
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    return written


def test_a_signal_during_a_periodic_checkpoint_write_stops_the_run_on_it(toy, capsys, monkeypatch):
    written = _signal_while_step_2_is_saved(monkeypatch)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet",
                                    "--set", "train.checkpoint_every=2")
    assert (code, out) == (130, "")
    assert err == STOPPED_AT_2
    assert written == ["2"]  # written once, and no step 3
    assert sorted(p.name for p in (toy / "r" / "checkpoints").iterdir()) == ["step_000000002.safetensors"]


def test_a_signal_during_a_stage_end_checkpoint_write_stops_the_run_on_it(toy, capsys, monkeypatch):
    """The checkpoint every stage ends with, as the periodic one: the run went on into the next stage for a step."""
    import dataclasses

    import toy_model

    real_stages = toy_model.ToyModel.stages
    monkeypatch.setattr(toy_model.ToyModel, "stages", lambda self, config: [
        dataclasses.replace(s, steps=n, name=name) for s in real_stages(self, config)[:1]
        for name, n in (("first", 2), ("second", 2))])
    written = _signal_while_step_2_is_saved(monkeypatch)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet",
                                    "--set", "train.checkpoint_every=0")
    assert (code, out) == (130, "")
    assert err == STOPPED_AT_2
    assert written == ["2"]  # written once, and no step 3


def test_a_signal_while_a_sample_grid_is_drawn_stops_the_run_after_it(toy, capsys, monkeypatch):
    """A ``train.sample_every`` grid, as a periodic checkpoint: the run trained one more step first."""
    from zoo3d.train import engine

    real, drawn = engine.Trainer.write_samples, []

    def write_samples(self):
        path = real(self)
        drawn.append(self.step)
        if self.step == 2:
            signal.raise_signal(signal.SIGINT)
        return path

    monkeypatch.setattr(engine.Trainer, "write_samples", write_samples)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet",
                                    "--set", "train.checkpoint_every=0", "--set", "train.sample_every=2")
    assert (code, out) == (130, "")
    assert err == STOPPED_AT_2
    assert drawn == [2]  # drawn once, and no step 3
