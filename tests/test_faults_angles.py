"""Angles past a full turn on the commands that place cameras: refused naming the option, before any work.

The cameras hold their angles in 32-bit floats, so ``--yaw 1e308`` (a finite float to Python) became infinity there and
its cosine NaN: ``sample`` wrote a black-and-white grid of NaN pixels, and ``render`` black frames, with exit status 0.
In-process on the checkpoint-free test stand-in."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from conftest import run_in_process as zoo3d
from test_faults_cli import toy  # noqa: F401 - the fixture

M = ("--model", "toy_procedural")


@pytest.mark.parametrize("args, option, value", [
    (("sample", *M, "--seeds", "0", "--yaw", "1e308", "--out", "g.png"), "--yaw", "1e308"),
    (("sample", *M, "--seeds", "0", "--pitch", "-1e39", "--out", "g.png"), "--pitch", "-1e39"),
    (("sample", *M, "--seeds", "0", "--yaw", "6.3", "--out", "g.png"), "--yaw", "6.3"),
    (("render", *M, "--frames", "2", "--yaw-range", "1e308", "--out", "t.gif"), "--yaw-range", "1e308"),
    (("render", *M, "--frames", "2", "--pitch-range", "1e39", "--out", "t.gif"), "--pitch-range", "1e39"),
    (("invert", "p.png", *M, "--method", "optimize", "--pose", "0,0", "--yaw-range", "-7", "--out", "inv"),
     "--yaw-range", "-7"),
])
def test_an_angle_past_a_full_turn_is_refused_naming_the_option(toy, capsys, args, option, value):
    Image.new("RGB", (16, 16)).save(toy / "p.png")
    code, _, err = zoo3d(capsys, *args)
    assert code == 2, err
    assert err.strip() == (f"Error: Invalid value for '{option}': '{value}' is not in the range -6.283<=x<=6.283 "
                           f"(radians: a full turn either way). (see `zoo3d {args[0]} --help`)")
    assert sorted(p.name for p in toy.iterdir() if p.name != "runs") == ["p.png"]  # no grid, animation or folder


def test_a_yaw_within_a_turn_is_the_same_view_as_the_yaw_a_turn_away(toy, capsys):
    """The bound refuses no view: 2 pi - 0.3 and -0.3 are one camera (the renders agree to a rounding step)."""
    for yaw, out in ((2 * math.pi - 0.3, "a.png"), (-0.3, "b.png"), (-2 * math.pi + 0.3, "c.png"), (0.3, "d.png")):
        code, _, err = zoo3d(capsys, "sample", *M, "--seeds", "0-1", "--yaw", repr(yaw), "--out", out)
        assert code == 0, err
    a, b, c, d = (np.asarray(Image.open(toy / n), dtype=np.int16) for n in ("a.png", "b.png", "c.png", "d.png"))
    assert np.abs(a - b).max() <= 1 and np.abs(c - d).max() <= 1
    assert np.abs(a - d).max() > 10  # and the two views differ, so the comparison above could fail
