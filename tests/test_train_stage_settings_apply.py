"""A stage's ``ema_decay`` and ``keep_optimizer_state`` are refused where they would act on nothing, before the
run folder is made: a stage without an average of its own (StyleSDF's sphere fit, GRAMInverter's encoder and
detail stages: the EMA follows the generator there) has no decay to use, and the recipe's first stage, or one
after a stage without an optimiser of its roles, has no Adam state to go on with. Both used to be taken without a
word."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


@pytest.mark.parametrize("setting, refusal", [
    ("stages.sphere_init.ema_decay=0.99",
     "stages.sphere_init.ema_decay: stage 'sphere_init' keeps no average of the generator (the EMA follows the "
     "generator there), so the decay would apply to nothing."),
    ("stages.sphere_init.keep_optimizer_state=true",
     "stages.sphere_init.keep_optimizer_state: 'sphere_init' is the recipe's first stage, so there is no optimiser "
     "state to keep."),
])
def test_stylesdf_settings_that_act_on_nothing_are_refused(tmp_path, capsys, setting, refusal):
    run = tmp_path / "run"
    code, _, err = run_in_process(capsys, "train", "stylesdf", "--out", run, "--steps", "1", "--quiet", "--set", setting)
    assert code == 2 and one_line_error(err) == f"Error: {refusal}"
    assert not run.exists()


def test_keeping_the_state_of_a_stage_with_other_roles_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_in_process(capsys, "train", "gram_inverter", "--out", run, "--steps", "1", "--quiet",
                                  "--set", "stages.gram_inverter.encoder.keep_optimizer_state=true")
    assert code == 2 and one_line_error(err) == (
        "Error: stages.gram_inverter.encoder.keep_optimizer_state: the stage before it, 'gram_inverter.efficient_gram', "
        "has no optimiser of its roles (encoder), so there is no optimiser state to keep.")
    assert not run.exists()


def test_keeping_the_state_of_the_stage_before_with_the_same_roles_stays_allowed(toy):
    """The toy's second stage trains the first one's roles, so its Adams go on (a stage's own ema_decay where it
    keeps an average: test_train_engine_wiring.py)."""
    config = ToyConfig.model_validate({"train": {"checkpoint_every": 0}, "stages": [toy_stage(2).model_dump()],
                                       "toy": {"stages": 2, "keep_optimizer_state": True}})
    kept = Trainer(ToyModel(), config, toy / "kept", model_name="toy", device="cpu", progress=False)
    assert [s.keep_optimizer_state for s in kept.stages] == [False, True]
    kept.check_new_run()  # nothing refused
