"""``zoo3d train``'s command line against docs/training.md: what each option hands to the training, the sentence a
finished, resumed or already complete run ends with, which process of several speaks (rank 0 for mistakes every
process makes, each process for its own), and the ``zoo3d train`` line ``--nproc N`` starts N times."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from conftest import run_in_process
from zoo3d.errors import UserError
from zoo3d.train.distributed import RankError
from zoo3d.train.engine import TrainResult

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def calls(monkeypatch):
    """``zoo3d.launch.train_model`` replaced by a recorder; set ``calls.result`` (a TrainResult) or ``calls.error``."""
    import zoo3d.launch

    class Calls(list):
        result = TrainResult(Path("runs/r"), 4, "done", Path("runs/r/checkpoints/step_000000004.safetensors"))
        error = None

    seen = Calls()

    def train_model(model, **kw):
        seen.append({"model": model, **kw})
        if seen.error is not None:
            raise seen.error
        return seen.result

    monkeypatch.setattr(zoo3d.launch, "train_model", train_model)
    return seen


def _ckpt(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step_{step:09d}.safetensors"


def test_a_run_ends_with_its_steps_run_folder_and_checkpoint(toy, capsys):
    run = toy / "run"
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--out", run, "--device", "cpu", "--quiet")
    assert (code, err) == (0, "")
    assert out == (f"Trained 1 step on cpu, cut at --steps 1 of the recipe's 6; run folder {run}, checkpoint "
                   f"{_ckpt(run, 1)}.\n")
    assert _ckpt(run, 1).is_file()
    code, out, _ = run_in_process(capsys, "train", "toy", "--steps", "3", "--out", run, "--resume", "--device", "cpu", "--quiet")
    assert (code, out) == (0, f"Trained 3 steps (2 in this run) on cpu, cut at --steps 3 of the recipe's 6; run folder "
                              f"{run}, checkpoint {_ckpt(run, 3)}.\n")
    code, out, _ = run_in_process(capsys, "train", "toy", "--steps", "3", "--out", run, "--resume", "--device", "cpu", "--quiet")
    assert (code, out) == (0, f"Nothing to train: the run is at step 3, at or past --steps 3; run folder {run}, "
                              f"checkpoint {_ckpt(run, 3)}.\n")


def test_a_run_at_the_end_of_its_recipe_has_nothing_to_train(toy, capsys):
    code, out, _ = run_in_process(capsys, "train", "toy", "--set", "stages.main.steps=2", "--device", "cpu", "--quiet")
    run = next((toy / "runs").iterdir())
    assert re.fullmatch(r"toy-\d{8}-\d{6}", run.name)  # the default --out: runs/<model>-<timestamp>
    assert (code, out) == (0, f"Trained 2 steps on cpu; run folder {run}, checkpoint {_ckpt(run, 2)}.\n")
    code, out, _ = run_in_process(capsys, "train", "toy", "--resume", "--device", "cpu", "--quiet")  # the model's newest run
    assert (code, out) == (0, f"Nothing to train: the run is at step 2, the end of its recipe; run folder {run}, "
                              f"checkpoint {_ckpt(run, 2)}.\n")


def test_nproc_says_a_resume_has_nothing_to_train_without_starting_the_processes(toy, capsys, monkeypatch):
    """As one process says it; before, --nproc started its processes, each built the model, and rank 0 said it."""
    import zoo3d.launch

    def launch_processes(nproc, args):
        raise AssertionError(f"started {nproc} processes: {args}")

    monkeypatch.setattr(zoo3d.launch, "launch_processes", launch_processes)
    run_in_process(capsys, "train", "toy", "--set", "stages.main.steps=2", "--out", "run", "--device", "cpu", "--quiet")
    for steps in ([], ["--steps", "1"]):
        said = run_in_process(capsys, "train", "toy", "--out", "run", "--resume", "--quiet", *steps)
        reach = "at or past --steps 1" if steps else "the end of its recipe"
        assert said == (0, f"Nothing to train: the run is at step 2, {reach}; run folder run, checkpoint "
                           f"{_ckpt(toy / 'run', 2)}.\n", "")
        assert run_in_process(capsys, "train", "toy", "--out", "run", "--resume", "--nproc", "2", *steps) == said


def test_nproc_resumes_the_newest_run_it_checked_in_every_process(toy, capsys, monkeypatch):
    """``--resume`` without ``--out``: the processes are given the run the launcher found newest, not left to find
    the newest each as it starts (another run's checkpoint written meanwhile would make it that run)."""
    import zoo3d.launch

    started = []
    monkeypatch.setattr(zoo3d.launch, "launch_processes", lambda nproc, args: started.append(args) or 0)
    run_in_process(capsys, "train", "toy", "--steps", "1", "--device", "cpu", "--quiet")
    run = next((toy / "runs").iterdir())
    assert run_in_process(capsys, "train", "toy", "--resume", "--nproc", "2", "--quiet") == (0, "", "")
    assert started == [["train", "toy", "--out", str(run), "--resume", "--quiet"]]


def test_progress_is_shown_unless_quiet(toy, capsys):
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--out", "a")
    assert code == 0 and "step" in err  # off a terminal: progress lines on stderr
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--out", "b", "--quiet")
    assert (code, err) == (0, "")


def test_every_option_reaches_the_training_as_given(calls, capsys):
    calls.result = TrainResult(Path("runs/r"), 4, "done", Path("runs/r/checkpoints/step_000000004.safetensors"),
                               start_step=4)
    code, out, _ = run_in_process(capsys, "train", "gram", "--data", "synthetic:heads", "--preset", "tiny", "--config",
                                  "c.yaml", "--set", "a.b=1", "--set", "c=x y", "--out", "o", "--steps", "7",
                                  "--device", "cpu", "--resume")
    assert code == 0
    assert calls == [{"model": "gram", "data": "synthetic:heads", "preset": "tiny", "config_file": "c.yaml",
                      "overrides": ["a.b=1", "c=x y"], "out": "o", "steps": 7, "device": "cpu", "resume": True,
                      "progress": True, "announce": True}]
    # resumed at step 4 and still there: nothing trained, as the sentence says
    assert out == ("Nothing to train: the run is at step 4, at or past --steps 7; run folder runs/r, checkpoint "
                   "runs/r/checkpoints/step_000000004.safetensors.\n")


def test_the_options_default_to_nothing_and_progress_on(calls, capsys):
    assert run_in_process(capsys, "train", "toy", "--quiet")[0] == 0
    assert run_in_process(capsys, "train", "toy")[1] == ("Trained 4 steps; run folder runs/r, checkpoint "
                                                         "runs/r/checkpoints/step_000000004.safetensors.\n")
    assert calls == [{"model": "toy", "data": None, "preset": None, "config_file": None, "overrides": [],
                      "out": None, "steps": None, "device": None, "resume": False, "progress": progress,
                      "announce": progress} for progress in (False, True)]


def test_a_stop_by_signal_exits_128_plus_the_signal_naming_the_checkpoint(calls, capsys):
    calls.result = TrainResult(Path("r"), 2, "interrupted", Path("r/c.safetensors"), signal="SIGTERM")
    code, out, err = run_in_process(capsys, "train", "toy", "--out", "r", "--steps", "5", "--device", "cpu")
    assert (code, out) == (128 + signal.SIGTERM, "")
    assert err == ("Stopped by SIGTERM at step 2; checkpoint r/c.safetensors. Continue with: zoo3d train toy --out r "
                   "--resume --steps 5 --device cpu\n")


@pytest.fixture
def rank_1(monkeypatch):
    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)


def test_a_mistake_of_every_process_is_said_by_rank_0_alone(calls, capsys, monkeypatch):
    calls.error = UserError("Unknown config key 'toy.z_dimm'.")
    calls.error.every_rank = True
    assert run_in_process(capsys, "train", "toy") == (2, "", "Error: Unknown config key 'toy.z_dimm'.\n")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert run_in_process(capsys, "train", "toy") == (2, "", "")


def test_a_processes_own_mistake_is_said_by_that_process_naming_it(calls, capsys, rank_1):
    import os
    import socket

    calls.error = UserError("CUDA device 1 is not available.")
    where = f"rank 1 of 2 (local rank 1 on {socket.gethostname()}, pid {os.getpid()})"
    assert run_in_process(capsys, "train", "toy") == (2, "", f"Error: {where}: CUDA device 1 is not available.\n")
    calls.error = RankError("rank 0 stopped answering.")  # already said as this process's own: said as it is
    assert run_in_process(capsys, "train", "toy") == (2, "", "Error: rank 0 stopped answering.\n")


def test_processes_other_than_rank_0_say_nothing_when_done_and_exit_with_the_signal_when_stopped(calls, capsys, rank_1):
    assert run_in_process(capsys, "train", "toy") == (0, "", "")
    calls.result = TrainResult(Path("r"), 2, "interrupted", Path("r/c.safetensors"), signal="SIGINT")
    assert run_in_process(capsys, "train", "toy") == (128 + signal.SIGINT, "", "")


@pytest.fixture
def launches(monkeypatch):
    """``--nproc``'s checks and launcher replaced by recorders; the launcher returns status 7."""
    import zoo3d.launch

    seen = {}
    monkeypatch.setattr(zoo3d.launch, "check_launch", lambda nproc, model, **kw: seen.update(check=(nproc, model, kw)))
    monkeypatch.setattr(zoo3d.launch, "launch_processes", lambda nproc, args: seen.update(launch=(nproc, args)) or 7)
    return seen


def test_nproc_checks_then_starts_the_same_train_line_in_n_processes(launches, calls, capsys):
    code, out, err = run_in_process(capsys, "train", "gram", "--nproc", "3", "--data", "d", "--preset", "tiny",
                                    "--config", "c.yaml", "--set", "a=1", "--set", "b=2", "--out", "o", "--steps", "9",
                                    "--device", "cpu", "--resume", "--quiet")
    assert (code, out, err, calls) == (7, "", "", [])  # the launcher's status; this process trains nothing
    assert launches["check"] == (3, "gram", {"device": "cpu", "steps": 9, "data": "d", "preset": "tiny",
                                             "config_file": "c.yaml", "overrides": ["a=1", "b=2"], "out": "o",
                                             "resume": True})
    assert launches["launch"] == (3, ["train", "gram", "--data", "d", "--preset", "tiny", "--config", "c.yaml",
                                      "--out", "o", "--steps", "9", "--device", "cpu", "--set", "a=1", "--set", "b=2",
                                      "--resume", "--quiet"])


def test_nproc_passes_only_the_options_given(launches, capsys):
    assert run_in_process(capsys, "train", "toy", "--nproc", "2")[0] == 7
    assert launches["launch"] == (2, ["train", "toy"])
    assert launches["check"] == (2, "toy", {"device": None, "steps": None, "data": None, "preset": None,
                                            "config_file": None, "overrides": [], "out": None, "resume": False})


def test_one_process_is_trained_here_and_nproc_0_is_refused(launches, calls, capsys):
    assert run_in_process(capsys, "train", "toy", "--nproc", "1")[0] == 0
    assert len(calls) == 1 and launches == {}
    code, _, err = run_in_process(capsys, "train", "toy", "--nproc", "0")
    assert code == 2 and err.startswith("Error: Invalid value for '--nproc': 0 is not in the range x>=1.")
