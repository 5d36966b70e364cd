"""``zoo3d data synth`` beside other processes: the hidden folder of a killed run is removed by the next, and a second
run that finds its output filled by another (two commands with one --out at once) says so in one sentence, keeping
the other's dataset and leaving nothing of its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zoo3d.cli.data as data_cli
from conftest import run_in_process as zoo3d
from toy_model import one_thread

SYNTH = ("data", "synth", "--count", "2", "--resolution", "32", "--batch", "2", "--no-depth")


@pytest.fixture
def here(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with one_thread():
        yield tmp_path


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_the_hidden_folder_of_a_killed_synth_is_removed_by_the_next_one(here, capsys):
    """A SIGTERM (a scheduler's) or a kill ends data synth without its clean-up; its half-filled hidden folder
    stayed beside the dataset for good, while every other hidden file zoo3d writes goes with the next write."""
    dead = _dead_pid()
    stale = here / f".d.tmp-{dead}"
    (stale / "images").mkdir(parents=True)
    (stale / "images" / "000000.png").write_bytes(b"half a png")
    other = here / f".e.tmp-{dead}"  # another target's, of a dead process too: not this command's to remove
    other.mkdir()
    code, out, err = zoo3d(capsys, *SYNTH, "--out", "d")
    assert code == 0, err
    assert sorted(p.name for p in here.iterdir()) == [f".e.tmp-{dead}", "d"]
    frames = json.loads((here / "d" / "poses.json").read_text())["frames"]
    assert [f["file"] for f in frames] == ["images/000000.png", "images/000001.png"]
    assert sorted(p.name for p in (here / "d" / "images").iterdir()) == ["000000.png", "000001.png"]


def test_a_second_synth_into_the_same_folder_at_once_is_one_sentence_and_keeps_the_first(here, capsys, monkeypatch):
    """Both started on an empty --out; the first to finish renamed its folder into place, and the second's rename
    then failed with a traceback ('OSError: [Errno 39] Directory not empty') and exit status 1."""
    real = data_cli._synth_into

    def first_finishes_meanwhile(staging, *args):
        real(staging, *args)
        (here / "d").mkdir()
        (here / "d" / "theirs.txt").write_text("the other run's dataset")

    monkeypatch.setattr(data_cli, "_synth_into", first_finishes_meanwhile)
    code, _, err = zoo3d(capsys, *SYNTH, "--out", "d")
    assert code == 2, err
    assert err.strip() == ("Error: Output folder 'd' was filled by another process while this one rendered; nothing of "
                           "this run was kept: choose a new folder.")
    assert sorted(p.name for p in here.iterdir()) == ["d"]  # no hidden folder of this run
    assert [p.name for p in (here / "d").iterdir()] == ["theirs.txt"]
