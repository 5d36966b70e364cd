"""An option given without its value (``zoo3d train gram --steps``, the last word of a line cut short) is one line that
points to the help of the command it was given to, as every other usage error does, not to ``zoo3d --help``."""

from __future__ import annotations

import pytest

from conftest import run_in_process


@pytest.mark.parametrize("args,command", [
    (["train", "gram", "--steps"], "zoo3d train"),
    (["train", "gram", "--out"], "zoo3d train"),
    (["data", "synth", "--count"], "zoo3d data synth"),
])
def test_a_missing_option_value_points_to_the_help_of_its_command(capsys, args, command):
    code, out, err = run_in_process(capsys, *args)
    assert (code, out) == (2, "")
    assert err == f"Error: Option '{args[-1]}' requires an argument. (see `{command} --help`)\n"
