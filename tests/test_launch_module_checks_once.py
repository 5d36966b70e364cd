"""``zoo3d train --nproc N`` refuses a new run's stage settings that only the built modules can judge (a ``module_lr``
path that is no module, or one a stage freezes) once, before it starts any process, as docs/training.md promises of
what every process would refuse. Before, each process built the model and refused it, and torchrun's agent added
its own lines (``Sending process … closing signal SIGTERM``, ``failed (exitcode: 2)``) under the sentence, after
the processes had started and built their models. The launcher builds the modules on the meta device (no weights)."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from toy_model import one_thread, use_toy

FROZEN = ("stages.second.module_lr.generator.net.0: stage 'second' freezes it (frozen: generator.net.0), so no "
          "parameter would train at that rate.")
TYPO = "stages.main.module_lr.generator.nett: model 'toy' has no module 'generator.nett' ('generator' holds net)."


@pytest.fixture
def toy(monkeypatch, tmp_path):
    from zoo3d import launch

    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    started = []
    monkeypatch.setattr(launch, "launch_processes", lambda nproc, args: started.append(nproc) or 0)
    with one_thread():
        yield tmp_path, started


@pytest.mark.parametrize("sets, sentence", [
    (["--set", "toy.stages=2", "--set", "stages.main.module_lr.generator.net.0=1e-5"], FROZEN),
    (["--set", "stages.main.module_lr.generator.nett=1e-5"], TYPO),
])
def test_a_module_refusal_is_one_sentence_before_any_process_starts(toy, capsys, sets, sentence):
    here, started = toy
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet", *sets) == 2
    assert one_line_error(capsys.readouterr().err) == f"Error: {sentence}"
    assert started == [] and not (here / "run").exists()
    # the same sentence as one process says it once it has built the model
    assert zoo3d("train", "toy", "--out", "run", "--quiet", *sets) == 2
    assert one_line_error(capsys.readouterr().err) == f"Error: {sentence}"


def test_a_rate_for_a_trained_module_still_starts_the_processes(toy, capsys):
    here, started = toy
    assert zoo3d("train", "toy", "--nproc", "2", "--out", "run", "--quiet", "--set", "toy.stages=2",
                 "--set", "stages.main.module_lr.generator.net.2=1e-5") == 0
    assert started == [2] and capsys.readouterr().err == ""
