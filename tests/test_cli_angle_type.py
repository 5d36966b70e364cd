"""The angle type of sample, render and invert on its own: a full turn either way is the bound, itself accepted (a
yaw of 2 pi is the yaw-0 camera), the next float past it refused; and like the finite types it refuses in click's
sentence naming the option it is given even outside a command line (click's prompts and a plugin's own commands
call types directly)."""

from __future__ import annotations

import math

import click
import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process as zoo3d
from test_faults_cli import toy  # noqa: F401 - the fixture
from zoo3d.cli.sample import ANGLE

TURN = 2 * math.pi
BOUND = "is not in the range -6.283<=x<=6.283 (radians: a full turn either way)."


def _option(name="--yaw"):
    opt = click.Option([name], type=ANGLE)
    return opt, click.Context(click.Command("sample", params=[opt]))


@pytest.mark.parametrize("value", [TURN, -TURN, 0.0, math.nextafter(TURN, 0)])
def test_a_full_turn_either_way_is_accepted_as_the_number_given(value):
    opt, ctx = _option()
    assert opt.process_value(ctx, repr(value)) == value


@pytest.mark.parametrize("name, value, said", [
    ("--yaw", repr(math.nextafter(TURN, 7)), f"'{math.nextafter(TURN, 7)!r}' {BOUND}"),
    ("--pitch-range", repr(-math.nextafter(TURN, 7)), f"'{-math.nextafter(TURN, 7)!r}' {BOUND}"),
    ("--yaw", "left", "'left' is not a number."),
    ("--pitch", "nan", "'nan' is not a finite number."),
])
def test_the_angle_type_names_the_option_it_refuses_for_outside_a_command_line(name, value, said):
    opt, ctx = _option(name)
    with pytest.raises(click.BadParameter) as caught:
        opt.process_value(ctx, value)  # the type's own refusal, without click's parsing to fill in the option
    assert caught.value.param is opt and caught.value.ctx is ctx
    assert caught.value.format_message() == f"Invalid value for '{name}': {said}"


def test_a_yaw_of_a_full_turn_samples_the_view_of_yaw_zero(toy, capsys):
    for yaw, out in ((TURN, "turn.png"), (0.0, "zero.png"), (-TURN, "back.png"), (1.0, "other.png")):
        code, _, err = zoo3d(capsys, "sample", "--model", "toy_procedural", "--seeds", "0", "--yaw", repr(yaw),
                             "--out", out)
        assert code == 0, err
    turn, zero, back, other = (np.asarray(Image.open(toy / n), dtype=np.int16)
                               for n in ("turn.png", "zero.png", "back.png", "other.png"))
    assert np.abs(turn - zero).max() <= 1 and np.abs(back - zero).max() <= 1  # one camera, to a rounding step
    assert np.abs(other - zero).max() > 10  # a yaw of 1 is another view, so the comparison above could fail
