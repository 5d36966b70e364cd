"""A run whose final sample grid could not be written (a full disk) gets it from the resume its stop points to.

The final grid is the last thing a run writes, after its last checkpoint: a full disk there stops the run with
"Training stopped at step N: cannot write image ...; ... continue with `zoo3d train ... --resume`", and that resume,
with nothing left to train, draws the grid the uninterrupted run drew (docs/training.md, "Resume").
"""

from __future__ import annotations

import errno

from PIL import Image

from conftest import one_line_error
from conftest import run_in_process as zoo3d
from zoo3d.launch import train_model


def test_the_resume_a_failed_final_grid_points_to_draws_that_grid(toy, monkeypatch, capsys):
    train_model("toy", out=toy / "straight", steps=3, progress=False)
    real_save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run", "--steps", "3", "--quiet")
    said = one_line_error(err)
    assert code == 2 and "cannot write image 'run/samples/step_000000003.png': the disk is full" in said, said
    assert said.endswith("continue with `zoo3d train toy --out run --resume --steps 3`).")
    assert not (toy / "run" / "samples" / "step_000000003.png").exists()
    monkeypatch.setattr(Image.Image, "save", real_save)  # space freed
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--steps", "3", "--quiet")
    assert code == 0 and out.startswith("Nothing to train: the run is at step 3"), (out, err)
    grid = toy / "run" / "samples" / "step_000000003.png"
    assert err == f"note: run: drew the run's final sample grid, {grid.relative_to(toy)}, which was missing.\n"
    assert grid.read_bytes() == (toy / "straight" / "samples" / "step_000000003.png").read_bytes()
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--steps", "3", "--quiet")
    assert (code, err) == (0, "")  # drawn once: a run with its grid resumes to nothing as before
