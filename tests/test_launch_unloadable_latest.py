"""A run folder whose every checkpoint is cut off, ``latest`` naming one of them (a disk that filled or a copy that
stopped mid-file): loading raises the checkpoint's error rather than finding nothing, and a new run into the folder is
still told that --resume cannot continue it, which --resume then confirms (naming the cut file), instead of being sent to --resume."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from test_faults_cli import toy  # noqa: F401 - the fixture
from zoo3d.launch import train_model
from zoo3d.train.checkpoint import CheckpointError, find_checkpoint, latest_pointer


def _said(capsys, *args):
    code, _, err = zoo3d(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_run_whose_latest_names_a_cut_off_checkpoint_is_not_sent_to_resume(toy, capsys):
    run = toy / "run"
    train_model("toy", out=run, steps=2, progress=False)
    named = latest_pointer(run)
    kept = sorted((run / "checkpoints").iterdir())
    assert named in [p.resolve() for p in kept]
    for p in kept:
        p.write_bytes(p.read_bytes()[:40])  # each checkpoint cut off after its first bytes
    with pytest.raises(CheckpointError):
        find_checkpoint(run)  # the case under test: the one latest names is there and cannot be loaded
    new = _said(capsys, "train", "toy", "--out", "run", "--steps", "2", "--quiet")
    assert new.startswith("Error: 'run' already holds a run (")
    assert new.endswith(") with no loadable checkpoint, so --resume cannot continue it; choose another --out (or "
                        "delete 'run' to start over in it).")
    again = _said(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    rel = named.relative_to(run.resolve())  # --resume: the file latest names is broken
    assert again.startswith("Error: Checkpoint '") and f"{rel}' is truncated or corrupt (" in again, again
    assert again.endswith("); the run has no other checkpoint to continue from, so start a new run in another "
                          "folder."), again  # what to do, as a run with no checkpoint at all is told
