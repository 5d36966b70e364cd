"""Faults around run folders and checkpoints: nothing lost, nothing wrong accepted, one sentence each.

Runs are the test stand-in's (a few ms a step), in-process; only the lock test starts a real
process, because only a real process can be killed with its lock held.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import SafetensorError

from conftest import run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.errors import ConfigError, UserError
from zoo3d.launch import train_model
from zoo3d.train import checkpoint as ckpt

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    with one_thread():
        yield tmp_path



def one_line_error(code, err, *phrases):
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


# ------------------------------------------------------------------------------------------- data loss

def test_a_run_folder_is_locked_while_its_process_lives_and_free_once_it_is_killed(toy):
    run = toy / "run"
    holder = subprocess.Popen(  # takes the lock, then forks a child (as data loader workers are) and waits
        [sys.executable, "-c", textwrap.dedent(f"""
            import os, time
            from zoo3d.runs import RunLock
            RunLock({str(run)!r}).acquire()
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
            print(child, flush=True)
            time.sleep(120)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    child = None
    try:
        child = int(holder.stdout.readline())
        with pytest.raises(UserError, match=f"in use by another zoo3d process \\(pid {holder.pid} "):
            train_model("toy", out=run, steps=1, progress=False)
        assert not (run / "config.yaml").exists()  # the refused run wrote nothing
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert (run / ".lock").exists()  # left behind by the killed process: stale, so it does not block,
        assert train_model("toy", out=run, steps=1, progress=False).step == 1  # even with its child alive
        assert not (run / ".lock").exists()
    finally:
        if holder.poll() is None:
            holder.kill()
        if child:
            os.kill(child, signal.SIGKILL)


def test_two_runs_in_one_folder_at_once_are_refused(toy):
    from zoo3d.runs import RunLock

    with RunLock(toy / "run"):  # what a first run holds while it trains
        with pytest.raises(UserError, match="is in use by another zoo3d process"):
            train_model("toy", out=toy / "run", steps=1, progress=False)
    train_model("toy", out=toy / "run", steps=3, progress=False)
    with RunLock(toy / "run"):
        with pytest.raises(UserError, match="is in use"):
            train_model("toy", out=toy / "run", resume=True, progress=False)
    assert train_model("toy", out=toy / "run", resume=True, progress=False).step == 6


def test_a_folder_holding_a_run_is_not_reused_even_when_latest_dangles(toy):
    run = toy / "run"
    train_model("toy", out=run, steps=3, progress=False)
    ckpt.read_latest(run).unlink()  # 'latest' now names a missing file
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="already holds a run \\(config.yaml, metrics.jsonl, latest"):
        train_model("toy", out=run, steps=3, progress=False)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    only_metrics = toy / "other"
    only_metrics.mkdir()
    (only_metrics / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(UserError, match="already holds a run \\(metrics.jsonl\\)"):
        train_model("toy", out=only_metrics, steps=1, progress=False)


def test_a_folder_of_other_files_is_not_made_a_run(toy):
    """A run written into a dataset folder mixed its samples into the images (and `data check` then failed)."""
    data = toy / "data"
    data.mkdir()
    for i in range(5):
        (data / f"{i}.png").write_bytes(b"")
    with pytest.raises(UserError, match=r"--out '.*data' holds files that are not a run \(0.png, 1.png, 2.png, … "
                                        r"\(5 entries\)\); a run gets a folder of its own"):
        train_model("toy", out=data, steps=1, progress=False)
    assert sorted(p.name for p in data.iterdir()) == [f"{i}.png" for i in range(5)]
    empty = toy / "empty"
    (empty / ".hidden").mkdir(parents=True)  # an empty folder (hidden entries aside) is fine
    assert train_model("toy", out=empty, steps=1, progress=False).step == 1


# --------------------------------------------------------------------------------- wrong results accepted

def test_steps_zero_is_refused_before_any_folder_exists(toy, capsys):
    with pytest.raises(UserError, match="--steps must be at least 1"):
        train_model("toy", out=toy / "zero", steps=0, progress=False)
    code, _, err = zoo3d(capsys, "train", "toy", "--steps", "0", "--quiet")
    one_line_error(code, err, "--steps must be at least 1")
    code, _, err = zoo3d(capsys, "train", "toy", "--steps", "-2", "--quiet")
    one_line_error(code, err, "--steps must be at least 1 (got -2)")
    assert not (toy / "zero").exists() and not (toy / "runs").exists()


def test_non_finite_weights_are_refused_at_load_naming_the_tensor(toy, capsys):
    from safetensors.torch import load_file, save_file

    from zoo3d.runs import load_model

    train_model("toy", out=toy / "run", steps=3, progress=False)
    path = ckpt.read_latest(toy / "run")
    meta = ckpt.read_metadata(path)
    for name in ("ema.net.0.weight", "generator.net.2.bias"):
        tensors = load_file(str(path))
        tensors[name][0] = float("nan") if name.startswith("ema") else float("inf")
        bad = toy / f"{name}.safetensors"
        save_file(tensors, str(bad), metadata=meta)
        with pytest.raises(UserError, match=f"non-finite values \\(NaN or Inf\\) in tensor '{name}'"):
            load_model(str(bad))
    code, _, err = zoo3d(capsys, "sample", str(toy / "ema.net.0.weight.safetensors"), "--out", "g.png")
    one_line_error(code, err, "tensor 'ema.net.0.weight'")
    assert not (toy / "g.png").exists()


def test_a_bad_data_spec_is_refused_before_the_run_folder_exists(toy, capsys):
    for spec, phrase in [("no/such/folder", "neither a registered dataset"),
                         ("synthetic:headz", "neither a registered dataset")]:
        code, _, err = zoo3d(capsys, "train", "toy", "--data", spec, "--out", "run", "--quiet")
        one_line_error(code, err, phrase)
    assert not (toy / "run").exists()


def test_empty_sample_seeds_are_refused_at_start(toy):
    with pytest.raises(ConfigError, match="train.sample_seeds"):
        train_model("toy", out=toy / "run", overrides=["train.sample_seeds=[]"], progress=False)
    assert not (toy / "run").exists()


def _posed_folder(root, n=4, cut=None):
    """A zoo3d-format folder of n noisy 16x16 PNGs with poses; ``cut`` bytes removed from each file's end."""
    from zoo3d.cameras import Camera

    root.mkdir()
    frames = []
    for i in range(n):
        img = np.random.default_rng(i).integers(0, 255, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / f"{i}.png")
        if cut:
            data = (root / f"{i}.png").read_bytes()
            (root / f"{i}.png").write_bytes(data[:-cut])
        frames.append({"file": f"{i}.png", "camera": Camera.from_angles(0.1 * i, 0.0).to_eg3d()[0].tolist()})
    (root / "poses.json").write_text(json.dumps({"version": 1, "frames": frames}))
    return root


def test_every_image_truncated_behind_intact_headers_is_a_clear_stop(toy, capsys):
    from zoo3d.data.folder import FolderDataset

    data = _posed_folder(toy / "cut", cut=300)
    code, _, err = zoo3d(capsys, "train", "toy", "--data", str(data), "--out", "run", "--quiet")
    one_line_error(code, err, "none of the 4 images tried could be decoded", "zoo3d data check")
    assert not (toy / "run").exists()
    with pytest.raises(UserError, match="Stopped: 4 images in a row of dataset"):  # what a run that started sees
        FolderDataset(data, 16)[0]
    # the same folder with whole files trains: the refusal is about the files, not the format
    assert train_model("toy", data=str(_posed_folder(toy / "fine")), out=toy / "ok", steps=1,
                       progress=False).step == 1


# ------------------------------------------------------------------------------ cryptic or misleading

def test_a_dangling_or_corrupt_latest_falls_back_to_the_newest_loadable_checkpoint(toy, capsys):
    run = toy / "run"
    train_model("toy", out=run, progress=False)  # checkpoints at steps 3 and 6
    six = run / "checkpoints" / ckpt.checkpoint_name(6)
    six.write_bytes(six.read_bytes()[:100])  # cut off
    (run / "latest").write_text("checkpoints/step_000000009.safetensors\n")  # names a missing file
    code, _, err = zoo3d(capsys, "sample", str(run), "--seeds", "0-1", "--out", "g.png")
    assert code == 0, err
    assert "'latest' names 'checkpoints/step_000000009.safetensors', which does not exist" in err
    assert "using the newest loadable checkpoint 'checkpoints/step_000000003.safetensors'" in err
    result = train_model("toy", out=run, resume=True, progress=False)
    assert result.step == 6 and ckpt.read_latest(run) == six.resolve()
    assert ckpt.read_metadata(six)["zoo3d.step"] == "6"  # rewritten whole


def test_a_cut_off_last_metrics_line_does_not_block_resume(toy):
    run = toy / "run"
    train_model("toy", out=run, steps=3, progress=False)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "stage": "ma')  # the process died mid-line
    assert train_model("toy", out=run, resume=True, progress=False).step == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_checkpoint_metadata_that_is_not_an_integer_is_refused_naming_the_key(toy, capsys):
    from safetensors.torch import load_file, save_file

    from zoo3d.runs import load_model

    run = toy / "run"
    train_model("toy", out=run, steps=3, progress=False)
    path = ckpt.read_latest(run)
    meta = {**ckpt.read_metadata(path), "zoo3d.step": "three"}
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(UserError, match="metadata zoo3d.step = 'three', which is not a whole number"):
        load_model(str(run))
    with pytest.raises(UserError, match="zoo3d.step = 'three'"):
        train_model("toy", out=run, resume=True, progress=False)
    meta["zoo3d.step"], meta["zoo3d.config"] = "3", "{not json"
    save_file(load_file(str(path)), str(path), metadata=meta)
    code, _, err = zoo3d(capsys, "sample", str(run), "--out", "g.png")
    one_line_error(code, err, "zoo3d.config that is not a JSON object")


def _full_disk_after_half(real_save, error: Exception):
    def save(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) // 2)
        raise error
    return save


#: what safetensors 0.8 raises on a full tmpfs (its Rust writer's I/O error), and what Python would
FULL_DISK = [SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
             OSError(errno.ENOSPC, "No space left on device")]


@pytest.mark.parametrize("error", FULL_DISK, ids=["safetensors", "oserror"])
def test_a_full_disk_while_training_names_the_checkpoint_and_leaves_nothing_half_written(toy, monkeypatch, capsys,
                                                                                         error):
    import safetensors.torch

    run = toy / "run"
    train_model("toy", out=run, steps=3, progress=False)
    monkeypatch.setattr(safetensors.torch, "save_file", _full_disk_after_half(safetensors.torch.save_file, error))
    code, _, err = zoo3d(capsys, "train", "toy", "--out", str(run), "--resume", "--steps", "6", "--quiet")
    one_line_error(code, err, "Training stopped at step 6", "step_000000006.safetensors", "the disk is full",
                   "step_000000003.safetensors', is intact", "--resume --steps 6`")  # the same stage split
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000000003.safetensors"]
    assert not [p for p in run.rglob(".*") if ".tmp-" in p.name] and not (run / ".lock").exists()


def test_read_only_runs_root_and_output_folders_are_one_sentence(toy, monkeypatch, capsys):
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(toy / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    monkeypatch.setenv("ZOO3D_RUNS", str(toy / "ro" / "runs"))
    code, _, err = zoo3d(capsys, "train", "toy", "--steps", "1", "--quiet")
    one_line_error(code, err, "Cannot create run folder", "ro/runs", "read-only")
    code, _, err = zoo3d(capsys, "train", "toy", "--steps", "1", "--quiet", "--out", str(toy / "ro" / "mine"))
    one_line_error(code, err, "ro/mine", "read-only")
    monkeypatch.setenv("ZOO3D_RUNS", str(toy / "runs"))
    train_model("toy", out=toy / "run", steps=1, progress=False)
    code, _, err = zoo3d(capsys, "sample", str(toy / "run"), "--seeds", "0", "--out", str(toy / "ro" / "g.png"))
    one_line_error(code, err, "Cannot write image", "ro/g.png", "read-only")


def test_a_full_disk_writing_an_image_leaves_no_file_and_stale_temp_files_are_removed(toy, monkeypatch, capsys):
    from PIL import Image as PILImage

    train_model("toy", out=toy / "run", steps=1, progress=False)
    stale = toy / ".g.png.tmp-999999999"  # left by a killed process (no such pid)
    stale.write_bytes(b"half")
    real_save = PILImage.Image.save

    def full(self, fp, format=None, **kw):
        with open(fp, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", full)
    code, _, err = zoo3d(capsys, "sample", str(toy / "run"), "--seeds", "0", "--out", "g.png")
    one_line_error(code, err, "Cannot write image 'g.png': the disk is full")
    assert not list(toy.glob("*g.png*")) and not stale.exists()
    monkeypatch.setattr(PILImage.Image, "save", real_save)
    (toy / "run" / "checkpoints" / ".step_000000009.safetensors.tmp-999999999").write_bytes(b"x")
    train_model("toy", out=toy / "run", resume=True, progress=False)
    assert not list((toy / "run").rglob("*.tmp-*"))


def test_a_checkpoint_without_its_step_is_refused_on_resume_in_one_sentence(toy, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    run = toy / "run"
    train_model("toy", out=run, steps=3, progress=False)
    path, _ = ckpt.find_checkpoint(run)
    with safe_open(str(path), "pt") as fh:
        meta = {k: v for k, v in (fh.metadata() or {}).items() if k != "zoo3d.step"}
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    save_file(tensors, str(path), metadata=meta)
    code, _, err = zoo3d(capsys, "train", "toy", "--out", run, "--resume", "--steps", "5", "--quiet")
    assert code == 2 and "has no 'zoo3d.step' in its metadata" in err and "Traceback" not in err


def test_a_model_named_without_a_run_is_its_newest_run_even_beside_a_folder_of_its_name(toy):
    # `zoo3d sample --model toy` in a folder holding ./toy took ./toy for the run
    from zoo3d.runs import load_model

    done = train_model("toy", steps=2, progress=False)
    (toy / "toy").mkdir()  # the working folder (the fixture's) holds a folder named like the model
    loaded = load_model(None, model="toy", device="cpu")
    assert loaded.checkpoint.parent.parent == done.run_dir and loaded.step == 2


def test_compare_takes_a_checkpoint_named_by_another_alias_of_a_model_it_compares(capsys):
    code, _, err = zoo3d(capsys, "compare", "--models", "eg3d", "--ckpt", "triplane=no/such/run", "--metric", "epi")
    assert code == 2 and "not in --models" not in err and "no/such/run" in err  # it got as far as the path
    code, _, err = zoo3d(capsys, "compare", "--models", "oracle", "--ckpt", "gram=no/such/run", "--metric", "epi")
    one_line_error(code, err, "--ckpt names model 'gram', which is not in --models")


def test_a_second_run_into_a_folder_a_run_is_writing_is_told_it_is_in_use_not_to_resume(toy):
    # it was told the folder "already holds a run ... add --resume", which the lock then refused too
    run = toy / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: toy\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time; from zoo3d.runs import RunLock; RunLock({str(run)!r}).acquire(); "
                               f"print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="is in use by another zoo3d process"):
            train_model("toy", out=run, steps=1, progress=False)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with pytest.raises(UserError, match="already holds a run"):  # free again: the folder's own refusal
        train_model("toy", out=run, steps=1, progress=False)


@pytest.mark.parametrize("model, item, said", [
    ("gram", "generator.resolution=48", "discriminator resolution must be a power of two"),
    ("triplane", "generator.plane_resolution=33", "resolution 33 must be start_res"),
])
def test_a_size_a_network_cannot_take_is_one_sentence_before_the_run_folder(tmp_path, capsys, model, item, said):
    """The networks' constructors check their sizes with a ValueError, which reached the user as a traceback."""
    with one_thread():
        code, _, err = zoo3d(capsys, "train", model, "--preset", "tiny", "--device", "cpu", "--steps", "1",
                             "--set", item, "--out", str(tmp_path / "run"), "--quiet")
    one_line_error(code, err, "Invalid config: the model cannot be built with it:", said)
    assert not (tmp_path / "run").exists()


def test_a_resume_under_another_cap_ends_each_stage_where_that_cap_does(toy, capsys):
    """`--steps N` caps the run at N steps and a different cap moves where stages end. A resumed stage ran its
    new length from its old start instead: a pi-GAN stopped at step 2 and resumed with --steps 3 ended at step 4,
    and a GRAM-HD run of --steps 2 resumed with --steps 6 trained nothing and said 'Trained 2 steps'."""
    run = toy / "run"
    train_model("toy", out=run, overrides=["toy.stages=2"], steps=2, progress=False)  # stages [1, 1]: ends 1, 2
    code, out, err = zoo3d(capsys, "train", "toy", "--out", str(run), "--resume", "--steps", "2", "--quiet")
    assert code == 0 and "Nothing to train: the run is at step 2, at or past --steps 2" in out, (out, err)
    code, out, err = zoo3d(capsys, "train", "toy", "--out", str(run), "--resume", "--steps", "5", "--quiet")
    assert code == 0 and "Trained 5 steps (3 in this run)" in out, (out, err)  # stages [3, 2]: ends 3, 5
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in records if r["step"] > 2] == ["second"] * len([r for r in records if r["step"] > 2])
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "step_000000005.safetensors"
    code, out, err = zoo3d(capsys, "train", "toy", "--out", str(run), "--resume", "--steps", "3", "--quiet")
    assert code == 0 and "Nothing to train: the run is at step 5, at or past --steps 3" in out, (out, err)
    code, out, err = zoo3d(capsys, "train", "toy", "--out", str(run), "--resume", "--quiet")  # the full recipe
    assert code == 0 and "Trained 6 steps (1 in this run)" in out, (out, err)  # stage two ends at 6, as [3, 3] ends
