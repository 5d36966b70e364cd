"""``zoo3d train MODEL --out RUN --resume`` where the run's ``config.yaml`` cannot be read (an editor left it half
edited) said ``Run config 'RUN/config.yaml' is not valid YAML at line N.`` and no more: not that the resume reads
that file (for the stage lengths edited there; the rest of the config is the checkpoint's), nor that the file can be
deleted, the resume then writing it again from the checkpoint's config (docs/training.md, "Resume")."""

from __future__ import annotations

import pytest

from conftest import one_line_error
from conftest import run_in_process as zoo3d
from zoo3d.launch import train_model
from zoo3d.runs import find_runs

pytestmark = pytest.mark.usefixtures("single_thread")

REMEDY = ("; --resume reads it for the stage lengths edited there (the rest of the run's config comes from its "
          "checkpoint), so fix it, or delete it and --resume writes it again from the checkpoint's config.")


@pytest.mark.parametrize("text,said", [
    ("model: toy\ntrain: {seed: 1\n", "is not valid YAML at line 3"),
    ("- model\n- toy\n", "must hold a mapping of keys to values"),
    ("", "is empty"),
])
def test_an_unreadable_run_config_names_the_resume_reading_it_and_the_way_back(toy, capsys, text, said):
    train_model("toy", out=toy / "run", steps=2, progress=False)
    config = toy / "run" / "config.yaml"
    began = config.read_bytes()
    config.write_text(text)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert code == 2
    assert one_line_error(err) == f"Error: Run config 'run/config.yaml' {said}{REMEDY}"
    config.unlink()  # as the sentence says
    code, out, err = zoo3d(capsys, "train", "toy", "--out", "run", "--resume", "--steps", "3", "--quiet")
    assert code == 0 and out.startswith("Trained 3 steps (1 in this run)"), (out, err)
    assert config.read_bytes() == began


@pytest.mark.parametrize("text,said", [
    ("model: toy\ntrain: {seed: 1\n", "is not valid YAML at line 3"),
    ("- model\n- toy\n", "must hold a mapping of keys to values"),
])
def test_a_run_whose_config_cannot_be_read_is_still_found_by_its_model(toy, capsys, text, said):
    """A run under the runs root is found by its model through its checkpoint's header where its ``config.yaml`` is
    not YAML, not a mapping, or gone: ``zoo3d train toy --resume`` said there was no run of toy to resume, ``zoo3d
    sample toy`` that none was found, though the run's checkpoint was whole."""
    run = train_model("toy", steps=2, progress=False).run_dir
    (run / "config.yaml").write_text(text)
    code, _, err = zoo3d(capsys, "train", "toy", "--resume", "--quiet")
    assert code == 2
    assert one_line_error(err) == f"Error: Run config '{run / 'config.yaml'}' {said}{REMEDY}"
    (run / "config.yaml").unlink()
    code, out, err = zoo3d(capsys, "sample", "toy", "--seeds", "0", "--out", "grid.png")
    assert code == 0 and (toy / "grid.png").is_file(), err


def test_a_run_without_config_or_latest_is_found_by_its_newest_step_checkpoint(toy, capsys):
    """With ``config.yaml`` and ``latest`` both gone (the run's ``checkpoints/`` copied alone), the model is the one the
    highest-step checkpoint names, and ``zoo3d train toy --resume`` continues that run."""
    run = train_model("toy", steps=2, progress=False).run_dir
    for name in ("config.yaml", "latest"):
        (run / name).unlink()
    code, out, err = zoo3d(capsys, "train", "toy", "--resume", "--steps", "3", "--quiet")
    assert code == 0 and out.startswith("Trained 3 steps (1 in this run)"), (out, err)
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "step_000000003.safetensors").is_file()


def test_an_emptied_run_config_still_names_the_run_by_its_checkpoint(toy):
    """An editor that emptied ``config.yaml`` leaves the run found by its checkpoint's model, where an empty file read
    as a config without a model passed the run over."""
    run = train_model("toy", steps=2, progress=False).run_dir
    (run / "config.yaml").write_text("")
    assert find_runs("toy") == [run]
    (run / "config.yaml").write_text("model: {backbone: resnet50}\n")  # another tool's: passed over, as before
    assert find_runs("toy") == []
