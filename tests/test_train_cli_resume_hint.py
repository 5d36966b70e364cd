"""The command ``zoo3d train`` prints when a signal stops it: it repeats what decides how the run goes on
(``--steps``: the stage split; ``--device``; the processes), so running it continues the same run."""

from __future__ import annotations

import re
import shlex
import signal

import pytest

from conftest import run_in_process
from toy_model import use_toy
from zoo3d.train import engine
from zoo3d.train.engine import TrainResult

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _hint(err: str) -> str:
    found = re.search(r"Continue with: (.*)$", err, re.MULTILINE)
    assert found, err
    return found.group(1)


def test_the_printed_command_continues_the_capped_run(toy, monkeypatch, capsys):
    step = engine.Trainer._train_step

    def stopping(self, stage):
        if self.step == 1:
            signal.raise_signal(signal.SIGINT)
        return step(self, stage)

    monkeypatch.setattr(engine.Trainer, "_train_step", stopping)
    run = toy / "run"
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "4",
                                  "--device", "cpu", "--quiet", "--set", "toy.stages=2",
                                  "--set", "stages.main.steps=12")
    assert code == 128 + signal.SIGINT, err
    hint = _hint(err)
    assert hint == f"zoo3d train toy --out {run} --resume --steps 4 --device cpu"
    monkeypatch.setattr(engine.Trainer, "_train_step", step)
    code, out, err = run_in_process(capsys, *shlex.split(hint)[1:])
    assert code == 0, err
    assert out.startswith("Trained 4 steps (")  # stages of 2 + 2, as --steps 4 split them, not 6 + 6


@pytest.mark.parametrize("env,tail", [
    ({}, "--resume --steps 3"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_WORLD_SIZE": "2"}, "--resume --steps 3 --nproc 2"),
])
def test_the_hint_repeats_steps_and_the_processes_of_one_machine(toy, monkeypatch, capsys, env, tail):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = toy / "my runs" / "a"
    stopped = TrainResult(run, 2, "interrupted", run / "checkpoints" / "step_000000002.safetensors", "SIGTERM",
                          world_size=int(env.get("WORLD_SIZE", 1)))
    monkeypatch.setattr("zoo3d.launch.train_model", lambda model, **kw: stopped)
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "3", "--quiet")
    assert code == 128 + signal.SIGTERM
    assert _hint(err) == f"zoo3d train toy --out '{run}' {tail}"


def test_a_run_over_several_machines_is_told_to_use_its_torchrun_line(toy, monkeypatch, capsys):
    for name, value in {"WORLD_SIZE": "16", "RANK": "0", "LOCAL_WORLD_SIZE": "8"}.items():
        monkeypatch.setenv(name, value)
    run = toy / "run"
    stopped = TrainResult(run, 2, "interrupted", run / "checkpoints" / "step_000000002.safetensors", "SIGTERM",
                          world_size=16)
    monkeypatch.setattr("zoo3d.launch.train_model", lambda model, **kw: stopped)
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--device", "cuda", "--quiet")
    assert code == 128 + signal.SIGTERM
    assert _hint(err) == f"the same torchrun line on every node, with -m zoo3d train toy --out {run} --resume " \
                         f"--device cuda"
