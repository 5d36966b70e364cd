"""``zoo3d.cli.paths.UserPath``, the path type plugins.md offers a plugin's own commands, reads a leading ``~`` as the
home folder in every value click converts: one typed, one from an environment variable, and the option's default,
given as text or as a ``pathlib.Path`` (click hands a Path default over as it is; it was taken literally, so a
plugin command with ``default=Path("~/shapes")`` wrote into a folder named ``~`` in the working directory)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from zoo3d.cli.paths import UserPath


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@click.command()
@click.option("--cache", type=UserPath(file_okay=False, path_type=Path), default=Path("~/cache"))
@click.option("--notes", type=UserPath(dir_okay=False), default="~/notes.txt")
@click.option("--log", type=UserPath(dir_okay=False, path_type=Path), envvar="SHAPES_LOG")
def shapes(cache, notes, log):
    click.echo(f"{cache}|{notes}|{log}")


def test_a_path_default_with_a_tilde_is_under_the_home_folder(home):
    result = CliRunner().invoke(shapes, [], env={"SHAPES_LOG": "~/run.log"})
    assert result.exit_code == 0, result.output
    assert result.output.strip().split("|") == [str(home / "cache"), str(home / "notes.txt"), str(home / "run.log")]


def test_a_path_default_that_must_exist_is_looked_for_under_the_home_folder(home):
    (home / "model.yaml").write_text("x: 1\n")

    @click.command()
    @click.option("--spec", type=UserPath(exists=True, dir_okay=False, path_type=Path), default=Path("~/model.yaml"))
    def show(spec):
        click.echo(spec.read_text())

    result = CliRunner().invoke(show, [])
    assert result.exit_code == 0, result.output
    assert result.output == "x: 1\n\n"
