"""A learning rate past what the weights' type holds (1e39 > float32's largest number, 3.4e38) is one sentence naming
the config key, where Adam's step stopped in torch's RuntimeError ("value cannot be converted to type float without
overflow"), a traceback (docs/training.md, "NaN/Inf")."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from conftest import run_in_process as zoo3d


@pytest.mark.parametrize("key", ["stages.main.lr.G", "stages.main.module_lr.generator.net"])
def test_a_learning_rate_whose_step_overflows_float32_is_refused_naming_its_key(toy, capsys, key):
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--steps", "1", "--quiet", "--set", f"{key}=1e39")
    assert (code, out) == (2, "")
    assert one_line_error(err) == (f"Error: {key}: Adam cannot step float32 weights at a learning rate of 1e+39 (its "
                                   f"update overflows float32); give a smaller one.")


def test_a_learning_rate_just_inside_float32_takes_its_step(toy, capsys):
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--steps", "1", "--quiet",
                           "--set", "stages.main.lr.G=1e38")
    assert (code, err) == (0, "") and out.startswith("Trained 1 step"), (out, err)
