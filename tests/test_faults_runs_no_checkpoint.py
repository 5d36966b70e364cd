"""A run folder whose process died before its first checkpoint (killed by the system for memory, ``kill -9`` or a
SIGTERM during the first step): both ways back say the same thing. ``zoo3d train --out DIR`` used to answer "add
--resume to continue it", and ``--resume`` then "it has no loadable checkpoint; start a new run in another folder"."""

from __future__ import annotations

from conftest import run_in_process as zoo3d
from test_faults_cli import toy  # noqa: F401 - the fixture
from zoo3d.launch import train_model


def _said(capsys, *args):
    code, _, err = zoo3d(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_run_without_a_loadable_checkpoint_is_not_sent_to_resume(toy, capsys):
    run = toy / "run"
    train_model("toy", out=run, steps=2, progress=False)
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    (run / "latest").unlink()  # what a process killed in its first step leaves: the config (and metrics, samples)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    new = _said(capsys, "train", "toy", "--out", "run", "--steps", "2", "--quiet")
    assert new == ("Error: 'run' already holds a run (config.yaml, metrics.jsonl, samples/ (1 file)) with no loadable "
                   "checkpoint, so --resume cannot continue it; choose another --out (or delete 'run' to start over "
                   "in it).")
    again = _said(capsys, "train", "toy", "--out", "run", "--resume", "--quiet")
    assert again.startswith("Error: Cannot resume 'run': it has no loadable checkpoint")
    (run / "checkpoints" / "step_000000002.safetensors").write_bytes(b"cut off")  # one that cannot be loaded
    cut = _said(capsys, "train", "toy", "--out", "run", "--steps", "2", "--quiet")
    assert cut.startswith("Error: 'run' already holds a run (config.yaml, checkpoints/ (1 file), metrics.jsonl, "
                          "samples/ (1 file)) with no loadable checkpoint, so --resume cannot continue it")
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == sorted(
        [*before, (run / "checkpoints" / "step_000000002.safetensors").relative_to(run)])

