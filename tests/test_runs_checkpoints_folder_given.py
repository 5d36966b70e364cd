"""A folder of checkpoint files given where a run goes: ``zoo3d compare --ckpt gram=runs/gram-1/checkpoints`` (the
run's ``checkpoints/`` reached by tab completion; also ``sample``, ``render``, ``export``) was refused as ``Run
folder '…/checkpoints' has no checkpoint yet (none that loads; it holds: nothing).``, though the folder held a
loadable checkpoint. The refusal now says what the folder is and names a file or folder to give instead."""

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


def test_a_runs_checkpoints_folder_names_the_run_and_its_newest_checkpoint(toy_run, capsys):
    folder = toy_run.run_dir / "checkpoints"
    newest = folder / "step_000000002.safetensors"
    assert newest.is_file()
    for command in (["compare", "--models", "toy", "--metric", "epi", "--ckpt", f"toy={folder}"],
                    ["sample", folder, "--seeds", "0", "--out", toy_run.run_dir.parent / "grid.png"]):
        code, out, err = zoo3d(capsys, *command)
        assert code == 2 and out == "", err
        assert err.strip() == (f"Error: '{folder}' is the checkpoints folder of run '{toy_run.run_dir}'; give the run "
                               f"folder (its latest checkpoint) or one checkpoint file, such as '{newest}'."), err
    assert not (toy_run.run_dir.parent / "grid.png").exists()


def test_a_folder_of_loose_checkpoints_names_one_of_them(toy_run, tmp_path, capsys):
    loose = tmp_path / "downloaded"
    loose.mkdir()
    shutil.copy(toy_run.checkpoint, loose / "toy_b.safetensors")
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--metric", "epi", "--ckpt", f"toy={loose}")
    assert code == 2
    assert err.strip() == (f"Error: '{loose}' holds checkpoint files but no run (no config.yaml, checkpoints/ or "
                           f"latest); give one checkpoint file, such as '{loose / 'toy_b.safetensors'}'."), err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--metric", "epi", "--ckpt", f"toy={empty}")
    assert code == 2  # a folder with nothing in it is still the run without a checkpoint
    assert err.strip() == f"Error: Run folder '{empty}' has no checkpoint yet (none that loads; it holds: nothing)."


def test_loose_checkpoints_in_a_folder_named_checkpoints_name_the_newest(toy_run, tmp_path, capsys):
    """``~/checkpoints/`` of downloaded files is no run's checkpoints folder (nothing above it holds a run): it is a
    folder of loose checkpoints, and the file it suggests is the newest one, not the last by name."""
    import os

    loose = tmp_path / "home" / "checkpoints"
    loose.mkdir(parents=True)
    newest, older = loose / "a_newest.safetensors", loose / "b_older.safetensors"
    for path, when in ((newest, 2_000_000_000), (older, 1_000_000_000)):
        shutil.copy(toy_run.checkpoint, path)
        os.utime(path, (when, when))
    code, _, err = zoo3d(capsys, "compare", "--models", "toy", "--metric", "epi", "--ckpt", f"toy={loose}")
    assert code == 2
    assert err.strip() == (f"Error: '{loose}' holds checkpoint files but no run (no config.yaml, checkpoints/ or "
                           f"latest); give one checkpoint file, such as '{newest}'."), err


def test_a_runs_samples_folder_names_the_run_as_resume_does(toy_run, capsys):
    """``zoo3d sample RUN/samples`` said the folder was a run that "holds: nothing", where ``train --resume`` given the
    same folder named the run: both ask :func:`zoo3d.runs.run_above`."""
    folder = toy_run.run_dir / "samples"
    code, out, err = zoo3d(capsys, "sample", folder, "--seeds", "0", "--out", toy_run.run_dir.parent / "grid.png")
    assert code == 2 and out == "", err
    assert err.strip() == (f"Error: '{folder}' is the samples folder of run '{toy_run.run_dir}'; give the run folder "
                           f"(its latest checkpoint) or one checkpoint file, such as "
                           f"'{folder.parent / 'checkpoints' / 'step_000000002.safetensors'}'."), err


def test_a_runs_folder_before_its_first_checkpoint_is_named_with_what_the_run_holds(toy_run, capsys):
    shutil.rmtree(toy_run.run_dir / "checkpoints")
    (toy_run.run_dir / "latest").unlink()
    folder = toy_run.run_dir / "samples"
    code, _, err = zoo3d(capsys, "sample", folder, "--seeds", "0", "--out", toy_run.run_dir.parent / "grid.png")
    assert code == 2
    assert err.strip() == (f"Error: '{folder}' is the samples folder of run '{toy_run.run_dir}', which has no "
                           f"checkpoint yet (it holds: config.yaml, metrics.jsonl, samples/ (1 file))."), err
