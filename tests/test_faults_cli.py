"""Bad counts, output names and auxiliary files on the commands that render or write: refused in one
sentence before any work, with nothing written. In-process on the checkpoint-free test stand-in."""

from __future__ import annotations

import errno
import importlib.util

import pytest
import torch
from PIL import Image

from conftest import run_cli, run_in_process as zoo3d
from toy_model import one_thread, use_toy
from zoo3d.errors import UserError


@pytest.fixture
def toy(monkeypatch, tmp_path):
    use_toy(monkeypatch, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    with one_thread():
        yield tmp_path



def refused(capsys, args, *phrases):
    code, _, err = zoo3d(capsys, *args)
    assert code == 2, (args, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def test_every_count_is_bounded_before_any_work(toy, capsys, monkeypatch):
    import zoo3d.train.sampling as sampling

    rendered = []
    real = sampling.render_views
    monkeypatch.setattr(sampling, "render_views", lambda *a, **k: rendered.append(1) or real(*a, **k))
    m = ("--model", "toy_procedural")
    refused(capsys, ("sample", *m, "--seeds", "0-100000000", "--out", "g.png"),
            "--seeds 0-100000000 asks for 100,000,001; at most 10,000 seeds fit in one grid")
    refused(capsys, ("sample", *m, "--seeds", "18446744073709551616", "--out", "g.png"), "too large")
    refused(capsys, ("sample", *m, "--seeds", "0-9", "--yaw", "0", "--yaw", "0.1", "--resolution", "5000",
                     "--out", "g.png"), "above the largest zoo3d renders")
    refused(capsys, ("render", *m, "--frames", "20000", "--out", "t.gif"), "--frames 20000 asks for 20,000")
    refused(capsys, ("render", *m, "--seed", "-1", "--out", "t.gif"), "--seed")
    refused(capsys, ("sample", *m, "--yaw", "nan", "--out", "g.png"), "'nan' is not a finite number")
    refused(capsys, ("render", *m, "--yaw-range", "inf", "--out", "t.gif"), "'inf' is not a finite number")
    for command, out in (("sample", "g.png"), ("render", "t.gif"), ("export", "m.ply"), ("view", None)):
        # NaN passes click's range check; it drew an image of NaNs cast to 0 and 255 with exit status 0
        refused(capsys, (command, *m, "--psi", "nan", *(("--out", out) if out else ())), "'nan' is not a number in")
    refused(capsys, ("export", *m, "--chunk", "999999999999", "--out", "m.ply"), "--chunk")
    refused(capsys, ("compare", "--models", "toy_procedural", "--instances", "0"), "--instances")
    refused(capsys, ("data", "synth", "--out", "d", "--count", "100000000"), "--count")
    monkeypatch.setattr("zoo3d.limits.memory_budget", lambda: 2**19)  # 512 KiB to hold images in
    refused(capsys, ("sample", *m, "--seeds", "0-99", "--out", "g.png"),
            "100 images of 16x16, which need about", "ask for fewer or smaller images")
    refused(capsys, ("render", *m, "--frames", "200", "--depth", "side", "--out", "t.gif"), "200 frames of 16x32")
    assert not rendered and not list(toy.glob("g.png*")) and not list(toy.glob("t.gif*"))


def test_output_names_that_cannot_be_written_are_refused_before_any_work(toy, capsys, monkeypatch):
    m = ("--model", "toy_procedural")
    refused(capsys, ("sample", *m, "--seeds", "0", "--out", "grid.txt"), "Cannot write an image to 'grid.txt'")
    refused(capsys, ("render", *m, "--frames", "2", "--out", "t.avi"), "Cannot write an animation to 't.avi'")
    # one row of 1200 seeds is 21,602 px wide: WebP stopped at 16383 after every seed had been rendered
    refused(capsys, ("sample", *m, "--seeds", "0-1199", "--yaw", "0", "--out", "row.webp"),
            "'row.webp' would be 21602x20 pixels, and WEBP holds at most 16383 on a side")
    refused(capsys, ("export", *m, "--format", "obj", "--out", "x.ply"),
            "--format obj disagrees with the suffix of 'x.ply'", "'x.obj'")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("imageio_ffmpeg", "av") else real_find_spec(name, *a))
    refused(capsys, ("render", *m, "--frames", "2", "--out", "t.mp4"), "pip install imageio-ffmpeg")
    assert not [p for p in toy.iterdir() if p.name != "runs"]  # no stray file of any of them
    (toy / "afile").write_text("a file where a folder is asked for")
    Image.new("RGB", (16, 16)).save(toy / "p.png")
    for option in ("--json", "--markdown"):  # a comparison wrote its report only after every fit had run
        refused(capsys, ("compare", "--models", "toy_procedural", "--metric", "epi", option, "afile/deeper/c.md"),
                f"Cannot write {option} report 'afile/deeper/c.md':", "is a file, not a folder")
    refused(capsys, ("invert", "p.png", *m, "--method", "optimize", "--pose", "0,0", "--out", "afile/inv"),
            "Cannot write inversion outputs 'afile/inv':", "is a file, not a folder")
    assert sorted(p.name for p in toy.iterdir() if p.name != "runs") == ["afile", "p.png"]


def test_a_model_named_twice_in_a_comparison_is_refused(toy, capsys):
    """Its rows are keyed by model: both were scored, one row shown, and the last --ckpt silently won."""
    refused(capsys, ("compare", "--models", "toy_procedural,TOY-procedural", "--metric", "epi"),
            "--models names 'toy_procedural' twice; a comparison scores one run per model")
    refused(capsys, ("compare", "--models", "toy_procedural", "--metric", "epi", "--ckpt", "toy_procedural=a",
                     "--ckpt", "toy_procedural=b"), "--ckpt names model 'toy_procedural' twice (a and b)")


def test_a_representation_without_bounds_says_what_it_lacks():
    from zoo3d.mesh import extract_mesh

    class Blob:  # a meshing field, but nothing saying how far it extends
        def mesh_field(self, points):
            return 0.3 - points.norm(dim=-1), 0.0

    with pytest.raises(UserError, match="has no 'bounds' attribute") as err:
        extract_mesh(Blob(), resolution=8, device="cpu")
    assert "pass the half-extent" not in str(err.value)
    Blob.bounds = 0.5
    assert extract_mesh(Blob(), resolution=16, colors=False, device="cpu").num_faces > 0


def test_a_bad_inception_file_is_refused_before_the_models_load(toy, capsys):
    from zoo3d.eval.fid import check_inception

    (toy / "garbage.pt").write_bytes(b"not a model at all")
    refused(capsys, ("compare", "--models", "toy_procedural", "--metric", "fid", "--inception", "garbage.pt"),
            "Inception file 'garbage.pt' is not a TorchScript model", "--inception PATH")
    torch.jit.script(torch.nn.Linear(3, 2)).save(str(toy / "other.pt"))
    with pytest.raises(UserError, match="is a TorchScript model but not clean-fid's inception"):
        check_inception(toy / "other.pt")


def test_a_full_disk_during_data_synth_leaves_no_half_written_dataset(toy, capsys, monkeypatch):
    import shutil

    import numpy as np

    real_save, calls = np.save, []

    def full(path, *a, **k):
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, *a, **k)

    monkeypatch.setattr(np, "save", full)
    refused(capsys, ("data", "synth", "--out", "d", "--count", "4", "--resolution", "32", "--batch", "2"),
            "Cannot write dataset 'd': the disk is full")
    assert not [p for p in toy.iterdir() if p.name != "runs"]
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 10))
    refused(capsys, ("data", "synth", "--out", "d", "--count", "4"), "needs at least 0.1 MiB in 'd', but only 10 bytes "
            "are free")  # a nearly full disk in MiB: it said "needs at least 0.0 GiB ... only 0.0 GiB"


@pytest.mark.parametrize("args", [(), ("data",)])
def test_a_group_without_a_command_prints_its_help_as_help_not_as_an_error(args):
    done = run_cli(*args)
    assert done.stdout.startswith(f"Usage: zoo3d {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "Error" not in done.stderr and "Error" not in done.stdout


def test_the_memory_budget_is_half_of_what_the_system_can_hand_out_not_of_its_free_pages(tmp_path, monkeypatch):
    """Linux's MemAvailable counts the page cache it can drop; the free pages alone (what the budget used to
    halve) were 15 of 20 GiB on a quiet machine and can be far less after heavy file reads."""
    import zoo3d.limits as limits

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n")
    assert limits.available_memory(str(meminfo)) == 20_000_000 * 1024
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(limits.os, "sysconf", lambda name: pages[name])
    meminfo.write_text("MemTotal:       32000000 kB\nMemFree:         1000000 kB\n")  # a kernel before 3.14
    assert limits.available_memory(str(meminfo)) == 1000 * 4096
    assert limits.available_memory(str(tmp_path / "none")) == 1000 * 4096  # no /proc: the free pages
    monkeypatch.setattr(limits, "available_memory", lambda: 6 * 2**30)
    assert limits.memory_budget() == 3 * 2**30
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    assert limits.memory_budget() == 8 * 2**30
    monkeypatch.setattr(limits, "available_memory", lambda: 2**30)
    with pytest.raises(UserError, match=r"1,024 frames of 256x256, which need about 1\.9 GiB of memory, more than the "
                                         r"512\.0 MiB a command may hold \(half the memory available now\); ask for"):
        limits.check_images("--frames", 1024, 256, 256, "frames")  # 1024 x 256² x 31 bytes
