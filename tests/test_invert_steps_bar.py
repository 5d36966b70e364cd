"""``zoo3d invert --method optimize`` shows each image's latent and PTI steps on a bar in a terminal (PTI's 450 + 350
steps take minutes an image), removed once the image is done so that its line follows; elsewhere (a log file, a pipe)
it draws nothing and the line per image is the log."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console

from conftest import run_in_process as zoo3d
from test_cli_invert_options import sphere  # noqa: F401 (a fixture)
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from test_invert_optimize import FlatColour
from zoo3d.cameras import Camera
from zoo3d.invert import OptimizationInverter, OptimizeSettings

pytestmark = pytest.mark.usefixtures("single_thread")


def test_on_step_is_called_once_after_each_latent_and_each_tuning_step():
    losses_seen = []
    inv = OptimizationInverter(FlatColour(), OptimizeSettings(steps=3, tune_steps=2, perceptual_weight=0))
    result = inv.invert(torch.zeros(1, 3, 8, 8), Camera.from_angles(0.0, 0.0),
                        on_step=lambda: losses_seen.append(len(losses_seen)))
    assert losses_seen == [0, 1, 2, 3, 4] and len(result.extras["losses"]) == 5


@pytest.fixture
def terminal(monkeypatch):
    """stderr as a terminal 100 columns wide, its text kept."""
    import zoo3d.cli.invert as cli

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    monkeypatch.setattr(cli, "_bar_console", lambda: console, raising=False)
    return screen


ARGS = ["--model", "toy_procedural", "--method", "optimize", "--pose", "0.1,0", "--frames", "1", "--out", "o"]


def test_in_a_terminal_the_steps_of_each_image_are_on_a_bar_removed_before_its_line(sphere, terminal, capsys):
    code, out, err = zoo3d(capsys, "invert", sphere, *ARGS, "--steps", "3", "--tune-steps", "2")
    assert code == 0, err
    drawn = terminal.getvalue()
    assert f"{sphere} (1/1)" in drawn and "5/5" in drawn
    assert drawn.rstrip().endswith("\x1b[2K")  # erased: the image's line, on stdout, follows it
    assert out.splitlines()[0].startswith(f"{sphere}: PSNR ")


def test_no_bar_for_an_inversion_of_no_steps(sphere, terminal, capsys):
    code, out, err = zoo3d(capsys, "invert", sphere, *ARGS, "--steps", "0")
    assert code == 0 and terminal.getvalue() == "", err


def test_no_bar_where_stderr_is_no_terminal_or_one_that_cannot_move_its_cursor(capsys, monkeypatch):
    import zoo3d.cli.invert as cli
    import zoo3d.train.progress as progress

    assert cli._bar_console() is None  # stderr is pytest's capture
    monkeypatch.setattr(progress, "_isatty", lambda stream: True)
    for term, drawn in (("xterm-256color", True), ("dumb", False), ("unknown", False)):
        monkeypatch.setenv("TERM", term)
        assert (cli._bar_console() is not None) is drawn, term
