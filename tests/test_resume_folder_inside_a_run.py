"""``zoo3d train MODEL --out RUN/checkpoints --resume`` (the run's ``checkpoints/`` reached by tab completion; also its
``samples/``) names the run folder to give, where it said the folder had "no loadable checkpoint (it holds: nothing)"
and to start a new run (docs/errors.md, "Run folders")."""

from __future__ import annotations

import shutil

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


def test_a_checkpoints_folder_is_a_runs_where_the_run_kept_nothing_else(toy, capsys):
    """Checkpoints copied without the rest of their run (no config.yaml, latest, metrics or samples) are still a run
    that --resume continues."""
    train_model("toy", out=toy / "run", steps=2, progress=False)
    for name in ("config.yaml", "latest", "metrics.jsonl"):
        (toy / "run" / name).unlink()
    shutil.rmtree(toy / "run" / "samples")
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run/checkpoints", "--resume", "--quiet")
    assert code == 2 and one_line_error(err) == ("Error: Cannot resume 'run/checkpoints': it is the checkpoints "
                                                 "folder of run 'run'; give that run folder as --out.")
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 0 and out.startswith("Trained 6 steps (4 in this run)"), (out, err)


@pytest.mark.parametrize("beside", [{}, {"config.yaml": "model: {backbone: resnet50}\n", "metrics.jsonl": "{}\n"}],
                         ids=["alone", "another-tools-config"])
def test_photos_named_samples_are_no_runs(toy, capsys, beside):
    """A folder above ``samples/`` is a run's only where it holds checkpoints or a ``config.yaml`` naming a model:
    images in ``photos/samples``, alone or beside a project's own ``config.yaml`` and log (read as a run, which
    --resume then called the run to give), are no run's."""
    (toy / "photos" / "samples").mkdir(parents=True)
    (toy / "photos" / "samples" / "0.png").write_bytes(b"")
    for name, text in beside.items():
        (toy / "photos" / name).write_text(text)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "photos/samples", "--resume", "--quiet")
    assert code == 2
    assert one_line_error(err) == ("Error: Cannot resume 'photos/samples': it has no loadable checkpoint (it holds: "
                                   "nothing); start a new run in another folder.")
    code, _, err = zoo3d(capsys, "sample", "photos/samples", "--seeds", "0", "--out", "grid.png")
    assert code == 2
    assert one_line_error(err) == ("Error: Run folder 'photos/samples' has no checkpoint yet (none that loads; it "
                                   "holds: nothing).")
