"""A leading ``~`` in a file or folder option, ``$ZOO3D_RUNS`` or ``--ckpt`` is the home folder.

No shell expands ``~`` after ``--out=`` (nor a quoted one in a job script): before, ``zoo3d sample
--out=~/g.png`` wrote ``./~/g.png`` and ``ZOO3D_RUNS='~/runs'`` made a folder named ``~`` in the working directory."""

from __future__ import annotations

import click
import pytest
import torch
from PIL import Image

from conftest import builtin_commands, run_in_process


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME is a fresh folder and the working directory another, so a literal '~' folder shows."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def test_an_out_option_given_with_equals_writes_under_the_home_folder(home, capsys):
    code, _, err = run_in_process(capsys, "sample", "--model", "oracle", "--seeds", "0", "--resolution", "8",
                                  "--device", "cpu", "--out=~/grid.png")
    assert code == 0, err
    assert Image.open(home / "grid.png").size[0] >= 8
    assert not (home.parent / "work" / "~").exists()


def test_the_runs_root_from_the_environment_expands_the_home_folder(home, monkeypatch):
    from zoo3d.runs import runs_root

    monkeypatch.setenv("ZOO3D_RUNS", "~/runs")
    assert runs_root() == home / "runs"


def test_a_checkpoint_given_under_the_home_folder_is_found(home):
    from zoo3d.runs import resolve_checkpoint
    from zoo3d.train.checkpoint import write_safetensors

    path = write_safetensors({"generator.w": torch.zeros(1)},
                             {"zoo3d.model": "gram", "zoo3d.step": "1", "zoo3d.stage_index": "0",
                              "zoo3d.stage_step": "1"}, home / "step_1.safetensors")
    assert resolve_checkpoint("~/step_1.safetensors") == path


def test_every_file_or_folder_option_of_the_built_in_commands_expands_the_home_folder():
    from zoo3d.cli.main import BUILTIN_COMMANDS
    from zoo3d.cli.paths import UserPath

    paths = [(c.name, p.name) for c in builtin_commands() for p in c.params if isinstance(p.type, click.Path)]
    assert len(paths) >= len(BUILTIN_COMMANDS) - 4  # the file options are many; none may be a plain click.Path
    plain = [(c.name, p.name) for c in builtin_commands() for p in c.params
             if isinstance(p.type, click.Path) and not isinstance(p.type, UserPath)]
    assert plain == []
