"""``zoo3d train --nproc N`` says a new run's dataset refusal and the plugin's own check (GRAM-HD's
``generator.lowres_run``) once, before it starts any process, and the dataset's problems once: before, rank 0 said
them after torchrun had started the processes (and they had built their models), with torchrun's agent's lines
(``Sending process … closing signal SIGTERM``, ``failed (exitcode: 2)``) under the sentence."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from toy_model import one_thread, use_toy


@pytest.fixture
def toy(monkeypatch, tmp_path):
    from zoo3d import launch

    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "ZOO3D_DATASET_CHECKED"):
        monkeypatch.delenv(name, raising=False)
    started = []
    monkeypatch.setattr(launch, "launch_processes", lambda nproc, args: started.append(args) or 0)
    with one_thread():
        yield tmp_path, started


def test_a_dataset_folder_without_a_usable_image_is_refused_before_any_process_starts(toy, capsys):
    here, started = toy
    (here / "empty").mkdir()
    assert zoo3d("train", "toy", "--nproc", "2", "--data", "empty", "--out", "run", "--quiet") == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith(f"Error: Dataset '{here / 'empty'}' has no usable posed image: ")
    assert started == [] and not (here / "run").exists()


def test_the_plugins_own_check_is_said_before_any_process_starts(toy, capsys, monkeypatch):
    from toy_model import ToyModel
    from zoo3d.errors import UserError

    def check_new_run(self, config, modules):
        raise UserError(f"The toy's check of {sorted(modules)}.")

    monkeypatch.setattr(ToyModel, "check_new_run", check_new_run)
    here, started = toy
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet") == 2
    assert one_line_error(capsys.readouterr().err) == "Error: The toy's check of ['disc', 'generator']."
    assert started == [] and not (here / "run").exists()


def test_the_datasets_problems_are_said_once_before_the_processes_start(toy, capsys, monkeypatch):
    """The processes inherit that the launcher said them: rank 0 (run here in this process, as the one process
    torchrun would start with that environment) does not say them again."""
    here, _ = toy
    assert zoo3d("data", "synth", "--out", "faces", "--count", "4", "--resolution", "32", "--batch", "4") == 0
    (here / "faces" / "images" / "000003.png").write_bytes(b"not a png")
    capsys.readouterr()
    said = {}

    def rank_0(nproc, args):
        said["before"] = capsys.readouterr().err
        return zoo3d(*args)

    monkeypatch.setattr("zoo3d.launch.launch_processes", rank_0)
    assert zoo3d("train", "toy", "--nproc", "2", "--data", "faces", "--steps", "1", "--out", "run", "--quiet") == 0
    problem = "warning: dataset problem: images/000003.png: unreadable image"
    assert said["before"].count(problem) == 1, said["before"]
    assert problem not in capsys.readouterr().err
    assert zoo3d("train", "toy", "--data", "faces", "--steps", "1", "--out", "run2", "--quiet") == 0
    assert capsys.readouterr().err.count(problem) == 1  # the launcher's environment is as it was
