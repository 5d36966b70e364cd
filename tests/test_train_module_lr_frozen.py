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


def _trainer(run_dir, module_lr) -> Trainer:
    stage = toy_stage(1, lr_g=ROLE_LR).model_dump() | {"module_lr": module_lr}
    cfg = ToyConfig.model_validate({"train": {"checkpoint_every": 0}, "stages": [stage]})
    return Trainer(FrozenFirstLayer(), cfg, run_dir, model_name="toy", device="cpu", progress=False)


def test_a_rate_for_a_module_the_stage_freezes_is_refused_before_the_run_folder(toy):
    with pytest.raises(ConfigError) as err:
        _trainer(toy / "run", {"generator.net.0": SLOW_LR})
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
