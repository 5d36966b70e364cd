"""A run's checkpoints record the device it trained on and the ``--steps`` cap it ran under (docs/training.md,
"Checkpoints": ``zoo3d.device``, ``zoo3d.steps_cap``), and ``zoo3d train``'s last line says both: two runs, one on a
GPU and one on the CPU, or one cut at ``--steps 500``, could not be told apart from their run folders before."""

from __future__ import annotations

import pytest
import torch

from conftest import run_in_process
from toy_model import toy_config, use_toy


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    use_toy(monkeypatch, tmp_path / "runs")
    return tmp_path


def _meta(run, step):
    from zoo3d.train.checkpoint import read_metadata

    meta = read_metadata(run / "checkpoints" / f"step_{step:09d}.safetensors")
    return meta["zoo3d.device"], meta["zoo3d.steps_cap"]


def test_each_checkpoint_records_its_device_and_cap_and_the_last_line_says_them(here, capsys):
    recipe = sum(stage.steps for stage in toy_config().stages)  # the toy's recipe, uncapped
    assert recipe > 4
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "2", "--device", "cpu", "--quiet", "--out", "r")
    assert code == 0, err
    assert out.startswith(f"Trained 2 steps on cpu, cut at --steps 2 of the recipe's {recipe}; run folder r,")
    assert _meta(here / "r", 2) == ("cpu", "2")
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", "4", "--device", "cpu", "--quiet", "--out", "r",
                                   "--resume")
    assert code == 0, err
    assert out.startswith(f"Trained 4 steps (2 in this run) on cpu, cut at --steps 4 of the recipe's {recipe};")
    assert _meta(here / "r", 4) == ("cpu", "4") and _meta(here / "r", 2) == ("cpu", "2")  # each its own segment's
    code, out, err = run_in_process(capsys, "train", "toy", "--device", "cpu", "--quiet", "--out", "r",
                                   "--resume")  # to the recipe's end
    assert code == 0, err
    assert out.startswith(f"Trained {recipe} steps ({recipe - 4} in this run) on cpu; run folder r,")
    assert _meta(here / "r", recipe) == ("cpu", "none")


def test_a_cap_at_or_past_the_recipe_is_recorded_and_cuts_nothing(here, capsys):
    recipe = sum(stage.steps for stage in toy_config().stages)
    code, out, err = run_in_process(capsys, "train", "toy", "--steps", str(recipe + 3), "--device", "cpu", "--quiet",
                                   "--out", "r")
    assert code == 0, err
    assert out.startswith(f"Trained {recipe} steps on cpu; run folder r,")
    assert _meta(here / "r", recipe) == ("cpu", str(recipe + 3))


def test_a_gpu_is_named_with_its_index_and_model(monkeypatch):
    from zoo3d.devices import device_label

    names = {0: "NVIDIA H100 80GB HBM3", 1: "NVIDIA A100-SXM4-40GB"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: names[index])
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert device_label(torch.device("cuda:0")) == "cuda:0 (NVIDIA H100 80GB HBM3)"
    assert device_label(torch.device("cuda")) == "cuda:1 (NVIDIA A100-SXM4-40GB)"  # the GPU `cuda` means now
    assert device_label(torch.device("cpu")) == "cpu"
