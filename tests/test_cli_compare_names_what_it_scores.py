"""``zoo3d compare`` says which run and step each model name picked before the metrics start: ``--models toy`` scores
the newest run under $ZOO3D_RUNS, and only the JSON and the Markdown provenance named its checkpoint, after the
whole comparison. The expected lines are built from what training returned (its run folder, step and checkpoint)."""

from __future__ import annotations

import shutil

import pytest

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.launch import train_model


@pytest.fixture
def toy_run(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        yield train_model("toy", steps=2, progress=False)


def _said_before_scoring(monkeypatch, capsys) -> list[str]:
    """The stderr lines printed before ``compare_models`` began, collected when it is called."""
    import zoo3d.eval.harness as harness

    before: list[str] = []
    real = harness.compare_models

    def compare_models(*args, **kwargs):
        before.extend(capsys.readouterr().err.splitlines())
        return real(*args, **kwargs)

    monkeypatch.setattr(harness, "compare_models", compare_models)
    return before


def test_each_model_is_named_with_its_run_folder_and_step_before_the_metrics(toy_run, monkeypatch, capsys):
    before = _said_before_scoring(monkeypatch, capsys)
    code, _, err = zoo3d(capsys, "compare", "--models", "toy,oracle", "--metric", "depth", "--instances", "1",
                         "--resolution", "16", "--set", "depth_views=2", "--device", "cpu")
    assert code == 0, err
    assert toy_run.step == 2 and toy_run.checkpoint.parent.name == "checkpoints"
    assert before[-2:] == [
        f"scoring toy: run {toy_run.run_dir} at step 2 (checkpoints/{toy_run.checkpoint.name})",
        "scoring oracle: no checkpoint (it needs none)"]


def test_a_checkpoint_file_outside_a_run_is_named_as_a_file(toy_run, monkeypatch, capsys, tmp_path):
    alone = tmp_path / "alone.safetensors"
    shutil.copyfile(toy_run.checkpoint, alone)
    before = _said_before_scoring(monkeypatch, capsys)
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--ckpt", f"toy={alone}", "--metric", "depth",
                         "--instances", "1", "--resolution", "16", "--set", "depth_views=2", "--device", "cpu")
    assert code == 0, err
    assert before[-1] == f"scoring toy: checkpoint {alone} at step 2"


def test_a_checkpoint_whose_step_is_not_known_is_named_without_one(tmp_path):
    """An evaluation model with weights but no recorded step (EvalModel's ``step`` None: "not known"): no step is
    made up."""
    from zoo3d.cli.compare import scored_line
    from zoo3d.eval.metric import EvalModel

    run = tmp_path / "gram-1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: gram\n")
    assert scored_line(EvalModel("gram", None, "/w/release.pth")) == "scoring gram: checkpoint /w/release.pth"
    assert scored_line(EvalModel("gram", None, str(run / "checkpoints" / "step_000000004.safetensors"))) == \
        f"scoring gram: run {run} (checkpoints/step_000000004.safetensors)"


def test_a_checkpoint_in_a_folder_named_checkpoints_that_is_no_run_is_named_as_a_file(toy_run, monkeypatch, capsys,
                                                                                        tmp_path):
    """``~/checkpoints/`` is a usual home for downloaded weights: a file there was said to be scored from "run ~"
    (the folder above), which holds no run."""
    downloads = tmp_path / "home" / "checkpoints"
    downloads.mkdir(parents=True)
    alone = downloads / "toy_ffhq.safetensors"
    shutil.copyfile(toy_run.checkpoint, alone)
    before = _said_before_scoring(monkeypatch, capsys)
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--ckpt", f"toy={alone}", "--metric", "depth",
                         "--instances", "1", "--resolution", "16", "--set", "depth_views=2", "--device", "cpu")
    assert code == 0, err
    assert before[-1] == f"scoring toy: checkpoint {alone} at step 2"
