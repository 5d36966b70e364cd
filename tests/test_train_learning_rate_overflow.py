"""A learning rate past what the weights' type holds (1e39 > float32's largest number, 3.4e38) is one sentence naming
the config key, where Adam's step stopped in torch's RuntimeError ("value cannot be converted to type float without
overflow"), a traceback (docs/training.md, "NaN/Inf")."""

from __future__ import annotations

import dataclasses

import pytest

import toy_model
from conftest import one_line_error
from conftest import run_in_process as zoo3d
from zoo3d.core.model import lazy_corrected


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


def test_the_rate_said_is_the_one_given_where_lazy_regularisation_scales_it(toy, capsys, monkeypatch):
    """The discriminator's optimiser of a lazily regularised recipe steps at lr x c (c = 3/4 for R1 every 3 steps):
    the sentence says the 1e39 the key was given, not the 7.5e38 the optimiser held."""
    plain = toy_model.ToyModel.stages

    def lazy_d(self, config):
        return [dataclasses.replace(s, optimizers={**s.optimizers, "D": lazy_corrected(s.optimizers["D"], 3)})
                for s in plain(self, config)]

    monkeypatch.setattr(toy_model.ToyModel, "stages", lazy_d)
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--steps", "1", "--quiet",
                           "--set", "stages.main.lr.D=1e39")
    assert (code, out) == (2, "")
    assert one_line_error(err) == ("Error: stages.main.lr.D: Adam cannot step float32 weights at a learning rate of "
                                   "1e+39 (its update overflows float32); give a smaller one.")
