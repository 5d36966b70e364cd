"""``zoo3d train`` names its run folder before the first step (docs/training.md, "Run folders"): a run started in
the default folder (``runs/<model>-<timestamp>``) said where it wrote only when it stopped. ``--quiet`` keeps
stderr silent, as it did: the last line, on stdout, names the folder."""

from __future__ import annotations

import pytest

from conftest import run_in_process
from toy_model import use_toy


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


@pytest.fixture
def said_before_training(monkeypatch, capsys):
    """What stderr held when the engine began the run (read then, so it is not mixed with the progress)."""
    from zoo3d.train.engine import Trainer

    seen, run = [], Trainer.run

    def recorded(self, *args, **kwargs):
        seen.append(capsys.readouterr().err)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "run", recorded)
    return seen


def test_a_new_run_in_the_default_folder_is_named_before_the_first_step(here, capsys, said_before_training):
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "1")
    assert code == 0, err
    (run,) = (here / "runs").iterdir()  # the folder the run made, found on disk
    assert said_before_training == [f"Training toy in run folder {here / 'runs' / run.name}.\n"]
    assert str(run) in out and "in run folder" not in err  # said once, and progress lines followed it


def test_a_resumed_run_is_named_with_the_step_it_goes_on_from(here, capsys, said_before_training):
    assert run_in_process(capsys, "train", "toy", "--steps", "2", "--out", "r")[0] == 0
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "3", "--out", "r", "--resume")
    assert code == 0, err
    assert said_before_training == ["Training toy in run folder r.\n", "Resuming toy in run folder r at step 2.\n"]


def test_a_refused_run_names_no_folder(here, capsys, said_before_training):
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--set", "train.nope=1")
    assert code == 2 and "run folder" not in err and said_before_training == []


def test_quiet_says_only_the_last_line(here, capsys, said_before_training):
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--device", "cpu", "--quiet",
                                     "--out", "q")
    assert code == 0 and said_before_training == [""] and err == "" and out.startswith("Trained 1 step on cpu,")
