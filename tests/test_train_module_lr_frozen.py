"""A ``module_lr`` path must name parameters its optimiser trains in the stage: a module the stage freezes
(GRAMInverter's manifold predictor while ``generator.learn_manifolds`` is false) or one without parameters would
take the rate and nothing would train at it, so the run is refused before its folder is made."""

from __future__ import annotations

import pytest

from conftest import one_line_error, run_in_process
from toy_model import ToyConfig, ToyModel, toy_stage, use_toy
from zoo3d.errors import ConfigError
from zoo3d.train.engine import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

SLOW_LR, ROLE_LR = 1e-5, 5e-3


class FrozenFirstLayer(ToyModel):
    """The stand-in with the generator's first linear layer frozen in its one stage."""

    def stages(self, config):
        (stage,) = super().stages(config)
        stage.frozen = ["generator.net.0"]
        return [stage]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _trainer(run_dir, module_lr, steps=1, **train) -> Trainer:
    stage = toy_stage(steps, lr_g=ROLE_LR).model_dump() | {"module_lr": module_lr}
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0, **train}, "stages": [stage]})
    return Trainer(FrozenFirstLayer(), cfg, run_dir, model_name="toy", device="cpu", progress=False)


def test_a_rate_for_a_module_the_stage_freezes_is_refused_before_the_run_folder(toy):
    trainer = _trainer(toy / "run", {"generator.net.0": SLOW_LR})
    with pytest.raises(ConfigError) as err:
        trainer.run()
    assert str(err.value) == ("stages.main.module_lr.generator.net.0: stage 'main' freezes it (frozen: "
                              "generator.net.0), so no parameter would train at that rate.")
    assert not (toy / "run").exists()


def test_a_rate_for_a_partly_frozen_module_trains_its_other_parameters_at_that_rate(toy):
    """generator.net holds the frozen layer 0 and the trained layer 2: layer 2 moves by the rate (Adam's first step
    with beta1 = 0 moves each parameter by its lr), layer 0 not at all."""
    trainer = _trainer(toy / "run", {"generator.net": SLOW_LR})
    net = trainer.modules["generator"].net
    before = [p.detach().clone() for p in net.parameters()]
    trainer._begin_stage(trainer.stages[0], fresh=True)
    trainer._train_step(trainer.stages[0])
    moved = [(p.detach() - b).abs().max().item() for p, b in zip(net.parameters(), before)]
    assert moved[:2] == [0.0, 0.0]
    assert moved[2] == pytest.approx(SLOW_LR, rel=1e-2) and moved[3] == pytest.approx(SLOW_LR, rel=1e-2)


def test_a_rate_for_a_module_without_parameters_is_refused_on_the_command_line(toy, capsys):
    """generator.net.1 is the LeakyReLU between the two layers: a module, but nothing in it trains."""
    run = toy / "run"
    code, _, err = run_in_process(capsys, "train", "toy", "--out", run, "--steps", "1", "--quiet",
                                  "--set", "stages.main.module_lr.generator.net.1=1e-5")
    assert code == 2
    assert one_line_error(err) == ("Error: stages.main.module_lr.generator.net.1: stage 'main' trains no parameter "
                                   "of it, so no parameter would train at that rate.")
    assert not run.exists()


def test_a_run_stored_with_such_a_rate_still_resumes(toy, monkeypatch):
    """``--resume`` takes no ``--set``: a run an earlier zoo3d trained with a rate that acted on nothing goes on
    under its stored config, as it trained before."""
    with monkeypatch.context() as m:
        m.setattr(Trainer, "check_new_run", lambda self: None)  # the run as an earlier zoo3d wrote it
        first = _trainer(toy / "run", {"generator.net.0": SLOW_LR}, steps=2, checkpoint_every=1).run()
    resumed = _trainer(toy / "run", {"generator.net.0": SLOW_LR}, steps=2)
    result = resumed.run(resume_from=toy / "run" / "checkpoints" / "step_000000001.safetensors")
    assert first.step == 2 and (result.status, result.step, result.start_step) == ("done", 2, 1)


def test_gram_inverters_fixed_manifolds_take_no_rate(tmp_path, capsys):
    """The tiny preset keeps the manifold predictor fixed (``generator.learn_manifolds: false``), as docs/errors.md
    quotes."""
    run = tmp_path / "run"
    code, _, err = run_in_process(capsys, "train", "gram_inverter", "--out", run, "--steps", "1", "--quiet", "--set",
                                  "stages.gram_inverter.efficient_gram.module_lr.generator.manifold=2e-6")
    assert code == 2
    assert one_line_error(err) == (
        "Error: stages.gram_inverter.efficient_gram.module_lr.generator.manifold: stage 'gram_inverter.efficient_gram' "
        "freezes it (frozen: encoder, detail, generator.manifold), so no parameter would train at that rate.")
    assert not run.exists()
