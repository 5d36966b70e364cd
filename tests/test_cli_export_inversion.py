"""``zoo3d export --inversion DIR/<image name>``: what chooses the weights or the instance, which the inversion brings
(RUN, --model, --no-ema, --seed, --psi), is refused in one sentence naming what was typed, before anything loads or is
written; neither a run nor an inversion is one sentence that names both (also for render and view). The exported layers
themselves are checked against Python's on a trained GRAMInverter run in test_gram_inverter_train_invert.py."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error

WHICH = ("exports the inverted image with the weights it was inverted with (the run and EMA its header names, its "
         "own latent)")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    (tmp_path / "inv" / "face").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("args, said", [
    (["--seed", "3"], "--seed does not apply to --inversion, which " + WHICH + "; leave it out."),
    (["--psi", "0.5"], "--psi does not apply to --inversion, which " + WHICH + "; leave it out."),
    (["runs/gram", "--no-ema"], "RUN, --no-ema do not apply to --inversion, which " + WHICH + "; leave them out."),
    (["--model", "gram", "--seed", "0", "--psi", "1"],
     "--model, --seed, --psi do not apply to --inversion, which " + WHICH + "; leave them out."),
], ids=["seed", "psi", "run-no-ema", "model-seed-psi"])
@pytest.mark.parametrize("out", ["head.glb", "head.ply"])
def test_what_chooses_another_instance_is_refused_beside_an_inversion(here, capsys, args, said, out):
    assert zoo3d("export", "--inversion", "inv/face", *args, "--out", out) == 2
    assert one_line_error(capsys.readouterr().err) == "Error: " + said
    assert sorted(p.name for p in here.iterdir()) == ["inv"]


@pytest.mark.parametrize("command", [["export", "--out", "head.glb"], ["render", "--out", "turn.gif"], ["view"]])
def test_neither_a_run_nor_an_inversion_is_one_sentence_naming_both(here, capsys, command):
    assert zoo3d(*command) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: Give a run folder, a checkpoint file or a model name (or --model NAME), or an image's folder that "
        "zoo3d invert wrote (--inversion DIR/<image name>).")
