"""`zoo3d invert` of a GRAMInverter run stopped before its encoder stage: the single-pass inverter's encoder has
never been trained (its heads still answer the mean face at the prior's centre pose), so the command warns in one
sentence, for the inversion and for the pose estimate the optimisation borrows, and stays silent once the encoder
stage has taken a step or the pose is given."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_in_process as zoo3d
from test_gram_inverter_model import micro_config

pytestmark = pytest.mark.usefixtures("single_thread")


def _train(run, steps: int):
    from zoo3d.train.engine import Trainer

    plugin, cfg = micro_config("train.checkpoint_every=1")
    result = Trainer(plugin, cfg, run, model_name="gram_inverter", device="cpu", max_steps=steps,
                     progress=False).run()
    assert result.status == "done"
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run stopped after one step of the efficient-GRAM stage, and one after one step of the encoder stage too."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("runs")
        return _train(root / "stage1", 1), _train(root / "encoder", 2)
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def portrait(tmp_path, monkeypatch):
    from zoo3d.data.synthetic import SyntheticHeads
    from zoo3d.imageio import save_image

    monkeypatch.chdir(tmp_path)
    save_image(SyntheticHeads(16, count=1, seed=5)[0]["image"], tmp_path / "face.png")
    return tmp_path / "face.png"


def _warning(run, use: str, alternative: str = "") -> str:
    return (f"warning: '{run}/checkpoints/step_000000001.safetensors' stopped at step 1, in stage "
            f"'gram_inverter.efficient_gram', before stage 'gram_inverter.encoder' trains the single-pass inverter's "
            f"encoder, so {use} is the untrained encoder's: train the run on (`zoo3d train gram_inverter --out {run} "
            f"--resume`){alternative}.")


def _invert(capsys, run, *args):
    return zoo3d(capsys, "invert", "face.png", "--model", "gram_inverter", "--ckpt", run, "--frames", "1",
                 "--device", "cpu", "--out", "o", *args)


def test_a_run_before_its_encoder_stage_warns_that_the_inversion_is_the_untrained_encoders(runs, portrait, capsys):
    stage1, _ = runs
    code, _, err = _invert(capsys, stage1)
    assert code == 0, err
    assert _warning(stage1, "the inversion") in err.splitlines()
    metrics = json.loads((portrait.parent / "o" / "face" / "metrics.json").read_text())
    assert metrics["pose_source"] == "estimated"
    assert metrics["pose"]["yaw"] == pytest.approx(0.0, abs=1e-6)  # the zero heads: the prior's centre (0, 0)
    assert metrics["pose"]["pitch"] == pytest.approx(0.0, abs=1e-6)


def test_the_optimisation_warns_for_the_untrained_pose_estimate_and_not_when_the_pose_is_given(runs, portrait,
                                                                                               capsys):
    stage1, _ = runs
    code, _, err = _invert(capsys, stage1, "--method", "optimize", "--steps", "0")
    assert code == 0, err
    assert _warning(stage1, "the pose estimate", ", or give --pose yaw,pitch") in err.splitlines()
    code, _, err = _invert(capsys, stage1, "--method", "optimize", "--steps", "0", "--pose", "0.1,0")
    assert code == 0, err
    assert "warning:" not in err


def test_no_warning_once_the_encoder_stage_has_taken_a_step(runs, portrait, capsys):
    _, encoder = runs
    for args in ([], ["--method", "optimize", "--steps", "0"]):
        code, _, err = _invert(capsys, encoder, *args)
        assert code == 0, err
        assert "warning:" not in err


def _note_at(tmp_path, stage_index: int, stage_step: int, *settings: str) -> str | None:
    """The note for a checkpoint at (stage, step in it) of the micro recipe with ``settings``, the weights untrained."""
    from types import SimpleNamespace

    from zoo3d.cli.invert import untrained_inverter_note
    from zoo3d.train.checkpoint import checkpoint_name, write_safetensors

    plugin, cfg = micro_config(*settings)
    modules = plugin.build(cfg)
    meta = {"zoo3d.model": "gram_inverter", "zoo3d.step": "2", "zoo3d.stage_index": str(stage_index),
            "zoo3d.stage_step": str(stage_step)}
    path = write_safetensors({"generator.w": torch.zeros(1)}, meta, tmp_path / "run" / "checkpoints" /
                             checkpoint_name(2))
    loaded = SimpleNamespace(checkpoint=path, plugin=plugin, config=cfg, modules=modules,
                             spec=SimpleNamespace(name="gram_inverter"))
    return untrained_inverter_note(loaded, plugin.build_inverter(cfg, modules), "the inversion")


def test_a_run_whose_encoder_stage_has_no_steps_warns_though_its_detail_stage_trained(tmp_path):
    """The encoder stage set to 0 steps is passed without a step: the detail stage's steps train the detail net, not
    the encoder, and no resume goes back to it."""
    note = _note_at(tmp_path, 2, 1, "stages.gram_inverter.encoder.steps=0")
    assert note == (f"'{tmp_path}/run/checkpoints/step_000000002.safetensors' stopped at step 2, in stage "
                    f"'gram_inverter.detail', past stage 'gram_inverter.encoder', which trains the single-pass "
                    f"inverter's encoder and took no step (stages.gram_inverter.encoder.steps is 0), so the inversion "
                    f"is the untrained encoder's: train a new run that gives that stage steps.")
    assert _note_at(tmp_path, 2, 1) is None  # the encoder stage had its steps
