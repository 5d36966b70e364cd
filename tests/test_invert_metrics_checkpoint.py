"""metrics.json's ``checkpoint`` names the checkpoint the inversion was made with, and is null (not the string
'None') for a model that needs no checkpoint, as the procedural oracle and the engine's stand-in."""

from __future__ import annotations

import json

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)


def _metrics(capsys, tmp_path, image, *args) -> dict:
    out = tmp_path / "out"
    code, _, err = _zoo3d(capsys, "invert", str(image), *args, "--method", "optimize", "--pose", "0,0", "--steps", "0",
                          "--frames", "1", "--out", str(out))
    assert code == 0, err
    return json.loads((out / image.stem / "metrics.json").read_text())


def test_a_checkpoint_free_model_records_no_checkpoint(toy_image, tmp_path, capsys):
    assert _metrics(capsys, tmp_path, toy_image, "--model", "toy_procedural")["checkpoint"] is None


def test_a_trained_run_records_its_checkpoint_file(toy_image, tmp_path, capsys):
    from test_gram_inverter_model import micro_config
    from zoo3d.train.engine import Trainer

    plugin, cfg = micro_config()
    run = tmp_path / "run"
    assert Trainer(plugin, cfg, run, model_name="gram_inverter", device="cpu", max_steps=1,
                   progress=False).run().status == "done"
    metrics = _metrics(capsys, tmp_path, toy_image, "--model", "gram_inverter", "--ckpt", str(run), "--device", "cpu")
    assert metrics["checkpoint"] == str(run / "checkpoints" / "step_000000001.safetensors")
