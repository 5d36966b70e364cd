"""A model plugin's recipe or modules that the engine cannot run are one sentence and exit status 2 from ``zoo3d
train``, not a traceback: a phase naming an optimiser its stage does not define, a module path the model lacks, an
optimiser whose modules the stage freezes, ``build()`` without a generator or with one that is no
``zoo3d.core.Generator``, and a phase whose loss returns something other than a ``LossResult`` (a bare tensor, a
LossResult of a float), which is told at the step that runs it (docs/plugins.md, The model interface)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import toy_model
from conftest import one_line_error, run_in_process
from zoo3d.core import LossResult, Phase


def _train(capsys, toy) -> tuple[int, str]:
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--quiet", "--out", toy / "run")
    return code, err


def _recipe(change):
    """The toy model's stages with ``change(stage) -> stage`` applied to each."""
    real = toy_model.ToyModel.stages
    return lambda self, config: [change(s) for s in real(self, config)]


@pytest.mark.parametrize("change, sentence", [
    (lambda s: dataclasses.replace(s, phases=[dataclasses.replace(s.phases[0], optimizer="gen")]),
     "Error: Stage 'main', phase '{phase}' uses optimizer 'gen', which the stage does not define ({optimizers})."),
    (lambda s: dataclasses.replace(s, frozen=["gen.net"]),
     "Error: The recipe names module 'gen.net', but the model has only: generator, disc."),
    (lambda s: dataclasses.replace(s, frozen=["generator.nett"]),
     "Error: Stage 'main' names module 'generator.nett', which the model does not have."),
    (lambda s: dataclasses.replace(s, frozen=["disc"]),
     "Error: Optimizer 'D' of stage 'main' has no trainable parameters (modules ['disc'], frozen ['disc'])."),
])
def test_a_recipe_the_engine_cannot_run_is_one_sentence_before_the_run_folder(toy, monkeypatch, capsys, change,
                                                                              sentence):
    stage = toy_model.ToyModel().stages(toy_model.ToyModel.config_class())[0]
    monkeypatch.setattr(toy_model.ToyModel, "stages", _recipe(change))
    code, err = _train(capsys, toy)
    assert code == 2 and one_line_error(err) == sentence.format(phase=stage.phases[0].name,
                                                                optimizers=", ".join(stage.optimizers))
    assert not (toy / "run").exists()


@pytest.mark.parametrize("nproc", [(), ("--nproc", "2")])
@pytest.mark.parametrize("modules, sentence", [
    ({"gen": torch.nn.Linear(1, 1)}, "Model 'toy': build() must return a 'generator' module."),
    ({"generator": torch.nn.Linear(1, 1)}, "Model 'toy': build()'s 'generator' is a Linear, not a zoo3d.core.Generator; "
                                           "subclass it (docs/plugins.md, The model interface)."),
])
def test_build_without_a_generator_is_one_sentence_before_the_run_folder(toy, monkeypatch, capsys, modules, sentence,
                                                                          nproc):
    """Under --nproc, said once before the processes start, as one process says it (each process printed it)."""
    import zoo3d.launch

    def launch_processes(nproc, args):
        raise AssertionError(f"started {nproc} processes: {args}")

    monkeypatch.setattr(zoo3d.launch, "launch_processes", launch_processes)
    monkeypatch.setattr(toy_model.ToyModel, "build", lambda self, config: modules)
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--quiet", "--out", toy / "run", *nproc)
    assert code == 2 and one_line_error(err) == f"Error: {sentence}"
    assert not (toy / "run").exists()


@pytest.mark.parametrize("loss, what", [
    (lambda ctx: torch.zeros((), requires_grad=True), "a Tensor"),
    (lambda ctx: LossResult(0.5), "a LossResult whose loss is a float"),
])
def test_a_phase_whose_loss_is_no_loss_result_is_named_at_its_step(toy, monkeypatch, capsys, loss, what):
    monkeypatch.setattr(toy_model.ToyModel, "stages", _recipe(
        lambda s: dataclasses.replace(s, phases=[Phase("plain", s.phases[0].optimizer, loss)])))
    code, err = _train(capsys, toy)
    assert code == 2 and one_line_error(err) == (
        f"Error: Phase 'plain' of stage 'main' returned {what} from its loss; a phase's loss returns "
        f"zoo3d.core.LossResult(loss=<a tensor to minimise>, logs={{name: number}}) (docs/plugins.md, The model "
        f"interface).")


def test_a_stage_the_recipe_reads_that_the_config_lacks_is_one_sentence(toy, monkeypatch, capsys):
    class UnnamedStages(toy_model.ToyConfig):  # a model whose config fixes no stage names, as the docs' minimal one
        stage_names = ()

    monkeypatch.setattr(toy_model.ToyModel, "config_class", UnnamedStages)
    code, _, err = run_in_process(capsys, "train", "toy", "--steps", "1", "--quiet", "--out", toy / "run", "--set",
                                  "stages=[{name: gan, steps: 2, batch_size: 4, lr: {G: 1.0e-3, D: 1.0e-3}}]")
    assert code == 2 and one_line_error(err) == ("Error: No stage 'main' in this config (stages: gan); the model's "
                                                 "recipe reads it, so name the stages as its presets do.")
    assert not (toy / "run").exists()
