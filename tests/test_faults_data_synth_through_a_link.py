"""``zoo3d data synth --out LINK`` where LINK leads to an empty folder (``ln -s /mnt/scratch/heads heads``) fills that
folder through the link, which stays, and keeps the folder's mode. Before, the rename of the finished dataset onto
the link failed and the run said another process had filled the folder, keeping nothing."""

from __future__ import annotations

import json
import os
import stat

from conftest import run_in_process as zoo3d
from toy_model import one_thread

SYNTH = ("data", "synth", "--count", "2", "--resolution", "32", "--batch", "2", "--no-depth")


def test_synth_through_a_link_to_an_empty_folder_fills_that_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scratch" / "heads").mkdir(parents=True)
    os.chmod(tmp_path / "scratch" / "heads", 0o2775)  # a shared project folder: group-writable, setgid
    os.symlink(os.path.join("scratch", "heads"), tmp_path / "heads")
    with one_thread():
        code, out, err = zoo3d(capsys, *SYNTH, "--out", "heads")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "wrote 2 synthetic heads at 32x32 to heads (zoo3d format)"
    assert os.readlink(tmp_path / "heads") == os.path.join("scratch", "heads")
    frames = json.loads((tmp_path / "scratch" / "heads" / "poses.json").read_text())["frames"]
    assert [f["file"] for f in frames] == ["images/000000.png", "images/000001.png"]
    assert sorted(os.listdir(tmp_path / "scratch" / "heads" / "images")) == ["000000.png", "000001.png"]
    assert stat.S_IMODE(os.stat(tmp_path / "scratch" / "heads").st_mode) == 0o2775
    assert sorted(os.listdir(tmp_path / "scratch")) == ["heads"]  # no hidden folder left


def test_synth_into_an_empty_folder_keeps_its_mode(tmp_path, monkeypatch, capsys):
    """The empty folder made beforehand (``mkdir -m 2775 heads``) is replaced by the finished one with its mode."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "heads").mkdir()
    os.chmod(tmp_path / "heads", 0o2775)
    with one_thread():
        code, out, err = zoo3d(capsys, *SYNTH, "--out", "heads")
    assert code == 0, out + err
    assert sorted(os.listdir(tmp_path / "heads" / "images")) == ["000000.png", "000001.png"]
    assert stat.S_IMODE(os.stat(tmp_path / "heads").st_mode) == 0o2775
    assert os.listdir(tmp_path) == ["heads"]
