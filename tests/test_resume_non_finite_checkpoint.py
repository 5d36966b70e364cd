"""``--resume`` of a run whose newest checkpoint holds NaN or Inf in a weight (a file damaged on disk, or written by a
diverged run) says how to continue from the checkpoint before it, where it said "take an earlier checkpoint", which
``--resume`` has no option to take (docs/errors.md, "Checkpoints")."""

from __future__ import annotations

import shutil

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from conftest import one_line_error
from conftest import run_in_process as zoo3d
from zoo3d.launch import train_model

pytestmark = pytest.mark.usefixtures("single_thread")


def _spoil(path) -> tuple[str, int]:
    """Write NaN into the first EMA tensor of the checkpoint at ``path``; returns its name and size."""
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    name = sorted(k for k in tensors if k.startswith("ema."))[0]
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(path), metadata=meta)
    return name, tensors[name].numel()


def test_a_non_finite_newest_checkpoint_points_the_resume_to_the_one_before(toy, capsys):
    train_model("toy", out=toy / "run", progress=False)  # checkpoints at steps 3 and 6
    newest = toy / "run" / "checkpoints" / "step_000000006.safetensors"
    name, size = _spoil(newest)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 2
    folder = toy / "run" / "checkpoints"
    assert one_line_error(err) == (
        f"Error: Checkpoint '{newest}' holds non-finite values (NaN or Inf) in tensor '{name}' (1 of {size} values); "
        f"the run cannot continue from it: --resume continues from the checkpoint before it, "
        f"'{folder / 'step_000000003.safetensors'}', once it is moved out of '{folder}'.")
    shutil.move(newest, toy / "step_000000006.safetensors")  # as the sentence says
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 0 and out.startswith("Trained 6 steps (3 in this run)"), (out, err)
    assert "using the newest loadable checkpoint 'checkpoints/step_000000003.safetensors' instead" in err


def test_a_run_whose_only_checkpoint_is_non_finite_is_told_to_start_again(toy, capsys):
    train_model("toy", out=toy / "run", steps=2, progress=False)
    _spoil(toy / "run" / "checkpoints" / "step_000000002.safetensors")
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--steps", "4", "--quiet")
    assert code == 2 and one_line_error(err).endswith(
        "; the run cannot continue from it: the run has no earlier checkpoint to continue from, so start a new run "
        "in another folder.")



def test_the_checkpoint_named_before_a_non_finite_one_is_one_the_resume_can_load(toy, capsys):
    """A cut-off checkpoint between them is passed over, as the resume after the move passes over it."""
    train_model("toy", out=toy / "run", overrides=["train.checkpoint_every=2"], progress=False)  # steps 2, 4, 6
    folder = toy / "run" / "checkpoints"
    (folder / "step_000000004.safetensors").write_bytes(b"cut off")
    _spoil(folder / "step_000000006.safetensors")
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 2 and one_line_error(err).endswith(
        f"--resume continues from the checkpoint before it, '{folder / 'step_000000002.safetensors'}', once it is "
        f"moved out of '{folder}'."), err
    shutil.move(folder / "step_000000006.safetensors", toy / "step_000000006.safetensors")
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 0 and out.startswith("Trained 6 steps (4 in this run)"), (out, err)
