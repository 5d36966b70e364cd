"""A signal during a run's last step: the step finishes, and the run folder ends as an uninterrupted run's does.

docs/training.md: the engine "writes sample grids every ``train.sample_every`` steps and at the end"; a signal
"finishes the current step, writes a checkpoint" and stops. When that step is the run's last, nothing is left for
``--resume`` to do (it answers "Nothing to train"), so the run's final grid is drawn before it stops, and the
sentence it stops with does not send the user to a continuation that trains nothing.
"""

from __future__ import annotations

import signal

import pytest

from conftest import run_in_process
from toy_model import signal_during_step
from zoo3d.launch import train_model

pytestmark = pytest.mark.usefixtures("single_thread")


SET = ["train.sample_every=4", "train.checkpoint_every=0"]  # grids at step 4 and, as the run's end, 6


def test_a_signal_during_the_last_step_still_draws_the_final_grid(toy, monkeypatch):
    straight = train_model("toy", out=toy / "straight", overrides=SET, progress=False)
    assert straight.status == "done"
    grids = sorted(p.name for p in (toy / "straight" / "samples").iterdir())
    assert grids == ["step_000000004.png", "step_000000006.png"]
    with monkeypatch.context() as patch:
        signal_during_step(patch, 6, signal.SIGTERM)
        stopped = train_model("toy", out=toy / "stopped", overrides=SET, progress=False)
    assert (stopped.status, stopped.step) == ("interrupted", 6)
    assert sorted(p.name for p in (toy / "stopped" / "samples").iterdir()) == grids
    for name in grids:  # the same EMA generator at the same steps draws the same pixels
        assert (toy / "stopped" / "samples" / name).read_bytes() == (toy / "straight" / "samples" / name).read_bytes()
    # and the continuation the stop would have pointed to trains nothing and draws nothing
    again = train_model("toy", out=toy / "stopped", resume=True, progress=False)
    assert (again.status, again.step, again.start_step) == ("done", 6, 6)


def test_a_signal_before_the_last_step_leaves_the_end_grid_to_the_resumed_run(toy, monkeypatch):
    with monkeypatch.context() as patch:
        signal_during_step(patch, 5, signal.SIGTERM)
        stopped = train_model("toy", out=toy / "run", overrides=SET, progress=False)
    assert (stopped.status, stopped.step) == ("interrupted", 5)
    assert sorted(p.name for p in (toy / "run" / "samples").iterdir()) == ["step_000000004.png"]


def test_the_stop_at_the_last_step_says_the_run_is_complete(toy, monkeypatch, capsys):
    signal_during_step(monkeypatch, 6, signal.SIGTERM)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet", *[f"--set={s}" for s in SET])
    assert (code, out) == (128 + signal.SIGTERM, "")
    assert err == ("Stopped by SIGTERM at step 6, the end of the run; checkpoint "
                   "r/checkpoints/step_000000006.safetensors. Nothing is left to train.\n")
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--resume", "--quiet")
    assert (code, err) == (0, "")
    assert out.startswith("Nothing to train: the run is at step 6, the end of its recipe;")


def test_a_stop_before_the_last_step_says_how_to_continue(toy, monkeypatch, capsys):
    signal_during_step(monkeypatch, 5, signal.SIGTERM)
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--quiet", *[f"--set={s}" for s in SET])
    assert (code, out) == (128 + signal.SIGTERM, "")
    assert err == ("Stopped by SIGTERM at step 5; checkpoint r/checkpoints/step_000000005.safetensors. "
                   "Continue with: zoo3d train toy --out r --resume\n")
