"""``zoo3d compare --data FOLDER`` for a distribution metric, where FOLDER holds no usable posed image.

metrics.md: such a ``--data`` is refused before any model is loaded. The refusal is the dataset check's report,
shared with ``zoo3d train``; its first line must not send a user who is comparing models off to training.
"""

from __future__ import annotations

import pytest
from PIL import Image

from conftest import run_in_process


def test_a_folder_without_poses_is_refused_for_swd_without_speaking_of_training(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("zoo3d.eval.harness.load_eval_model",
                        lambda *a, **k: pytest.fail("a model was loaded before the --data folder was checked"))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"{i}.png")
    code, out, err = run_in_process(capsys, "compare", "--models", "oracle", "--metric", "swd", "--data", folder,
                                    "--json", tmp_path / "c.json")
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0] == f"Error: Dataset '{folder}' cannot be used: it holds no usable posed image."
    assert lines[1] == f"{folder}: images format, 3 images (0 usable)"
    assert "0.png: missing pose (no dataset.json, poses.json or poses/ folder)" in err
    assert "training" not in err and not (tmp_path / "c.json").exists()
