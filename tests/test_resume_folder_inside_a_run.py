"""``zoo3d train MODEL --out RUN/checkpoints --resume`` (the run's ``checkpoints/`` reached by tab completion; also its
``samples/``) names the run folder to give, where it said the folder had "no loadable checkpoint (it holds: nothing)"
and to start a new run (docs/errors.md, "Run folders")."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from conftest import run_in_process as zoo3d
from zoo3d.launch import train_model

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("inside", ["checkpoints", "samples"])
def test_a_folder_inside_a_run_given_to_resume_names_the_run(toy, capsys, inside):
    train_model("toy", out=toy / "run", steps=2, progress=False)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", f"run/{inside}", "--resume", "--quiet")
    assert code == 2
    assert one_line_error(err) == (f"Error: Cannot resume 'run/{inside}': it is the {inside} folder of run 'run'; "
                                   f"give that run folder as --out.")
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 0 and out.startswith("Trained 6 steps (4 in this run)"), (out, err)
