"""``zoo3d train --resume`` goes on with the config its checkpoint holds. A run folder's ``config.yaml`` edited after
the run began (a rate changed) was ignored without a word, and the file then described a run that never was: the
resume now refuses, naming the keys that differ with both values, and what to do (a stage's ``steps`` edited there
is taken: tests/test_resume_stage_lengths.py). An untouched file, or one written in another YAML spelling of the same
values, resumes as before."""

from __future__ import annotations

import pytest

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.launch import train_model


@pytest.fixture
def toy_run(monkeypatch, tmp_path):
    """A toy run cut at --steps 1 (of its recipe's 4), on the CPU."""
    use_toy(monkeypatch, tmp_path / "runs")
    with one_thread():
        return train_model("toy", steps=1, device="cpu", progress=False,
                           overrides=["stages.main.steps=4", "train.sample_every=0"]).run_dir


def _resume(capsys, run):
    with one_thread():
        return zoo3d(capsys, "train", "toy", "--out", run, "--resume", "--steps", "2", "--quiet", "--device", "cpu")


def test_a_config_yaml_edited_after_the_run_began_is_refused_naming_the_keys(toy_run, capsys):
    path = toy_run / "config.yaml"
    text = path.read_text()
    assert "  steps: 4\n" in text and "  seed: 0\n" in text
    path.write_text(text.replace("  steps: 4\n", "  steps: 40\n").replace("  seed: 0\n", "  seed: 3\n"))
    code, out, err = _resume(capsys, toy_run)
    assert code == 2 and out == "", err
    assert err.strip().splitlines() == [  # the stage's length would be taken; the seed is not
        f"Error: '{path}' was changed after the run began (train.seed: 0 in the checkpoint, 3 in the file); --resume "
        f"trains on with the config in the run's checkpoint, where only a stage's steps may change, so put the file "
        f"back as it was, or start a new run from it (`zoo3d train toy --config {path} --out NEW_DIR`)."]
    assert sorted(p.name for p in (toy_run / "checkpoints").iterdir()) == ["step_000000001.safetensors"]


def test_more_than_three_keys_edited_are_named_three_and_counted(toy_run, capsys):
    path = toy_run / "config.yaml"
    text = path.read_text()
    edits = [("  z_dim: 8\n", "  z_dim: 4\n"), ("  resolution: 16\n", "  resolution: 32\n"),
             ("  r1_gamma: 1.0\n", "  r1_gamma: 2.0\n"), ("  seed: 0\n", "  seed: 3\n"),
             ("  nan_times: 1\n", "  nan_times: 2\n")]
    for was, now in edits:
        assert text.count(was) == 1, was
        text = text.replace(was, now)
    path.write_text(text)
    code, out, err = _resume(capsys, toy_run)
    assert code == 2 and out == "", err
    assert f"'{path}' was changed after the run began (train.seed: 0 in the checkpoint, 3 in the file; toy.z_dim: 8 " \
        "in the checkpoint, 4 in the file; toy.resolution: 16 in the checkpoint, 32 in the file; 2 more); " in err, err


def test_the_same_values_written_otherwise_resume(toy_run, capsys):
    """A comment, 4.0 for 4, and a key left out at its default are the same config as the model reads it."""
    path = toy_run / "config.yaml"
    text = path.read_text()
    assert text.count("  r1_gamma: 1.0\n") == 1
    text = text.replace("  steps: 4\n", "  steps: 4.0\n").replace("  r1_gamma: 1.0\n", "")
    path.write_text("# reformatted\n" + text)
    code, out, err = _resume(capsys, toy_run)
    assert code == 0, err
    assert out.startswith("Trained 2 steps (1 in this run)"), out


def test_a_config_yaml_zoo3d_wrote_with_an_escaped_tab_resumes(toy_run):
    """zoo3d's own writer puts a value holding a tab in double quotes as "\\t" (a dataset folder named so): the file is
    read as written, not refused as a Windows path in double quotes would be."""
    from zoo3d.config import dump_config
    from zoo3d.launch import resumed_config
    from zoo3d.runs import config_from_checkpoint
    from zoo3d.train.checkpoint import find_checkpoint, read_metadata

    from toy_model import ToyModel

    checkpoint = find_checkpoint(toy_run)[0]
    meta = read_metadata(checkpoint)
    config = config_from_checkpoint(ToyModel(), "toy", meta, checkpoint)
    config.data.spec = "toy:spheres\t"
    (toy_run / "config.yaml").write_text(dump_config(config))
    assert '"toy:spheres\\t"' in (toy_run / "config.yaml").read_text()
    assert resumed_config(ToyModel(), "toy", toy_run, config, meta) is config
