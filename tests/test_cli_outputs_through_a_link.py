"""An output that is a symbolic link to a file that exists (``ln -s /mnt/scratch/grid.png grid.png``) is written
through, as ``cp`` and Pillow's ``save`` do: the file the link leads to gets the new content and the link stays.

Before, the atomic write renamed its temporary file over the link itself: the link became a plain file in the working
folder and the file it led to kept its old content, exit status 0."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_in_process
from zoo3d.fileio import write_text_atomic

OUTPUTS = [
    (("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out"), "grid.png"),
    (("render", "oracle", "--frames", "2", "--resolution", "8", "--out"), "t.gif"),
    (("export", "oracle", "--resolution", "8", "--out"), "head.ply"),
]


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    work = tmp_path / "work"
    (work / "disk").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return work


@pytest.mark.parametrize("args, out", OUTPUTS, ids=[a[0] for a, _ in OUTPUTS])
def test_an_output_that_is_a_link_to_a_file_writes_that_file_and_keeps_the_link(here, capsys, args, out):
    code, stdout, err = run_in_process(capsys, *args, f"plain_{out}")
    assert code == 0, stdout + err
    expected = (here / f"plain_{out}").read_bytes()
    target = here / "disk" / out
    target.write_text("old\n")
    os.symlink(os.path.join("disk", out), here / out)  # relative, as `ln -s disk/x x` makes it
    code, stdout, err = run_in_process(capsys, *args, out)
    assert code == 0, stdout + err
    assert os.readlink(here / out) == os.path.join("disk", out)  # still the link it was
    assert target.read_bytes() == expected
    assert sorted(os.listdir(here / "disk")) == [out]  # no temporary file left beside the target


def test_an_image_through_a_link_is_the_image_it_would_be_as_a_file(here, capsys):
    os.symlink(here / "disk" / "g.png", here / "g.png")
    (here / "disk" / "g.png").write_text("old\n")
    code, stdout, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out",
                                       "g.png")
    assert code == 0, stdout + err
    with Image.open(here / "disk" / "g.png") as image:  # a grid of one 8 px view with its 2 px padding
        assert image.format == "PNG" and image.size == (12, 12)
    assert (here / "g.png").is_symlink()


def test_a_chain_of_links_writes_the_file_at_its_end_and_keeps_every_link(tmp_path):
    (tmp_path / "far").mkdir()
    (tmp_path / "far" / "a.txt").write_text("old")
    os.symlink(tmp_path / "far" / "a.txt", tmp_path / "middle")
    os.symlink("middle", tmp_path / "first")
    write_text_atomic(tmp_path / "first", "new")
    assert (tmp_path / "far" / "a.txt").read_text() == "new"
    assert os.readlink(tmp_path / "first") == "middle" and (tmp_path / "middle").is_symlink()
    assert sorted(os.listdir(tmp_path / "far")) == ["a.txt"]


def test_an_mp4_through_a_link_is_moved_onto_the_file_it_leads_to(tmp_path, monkeypatch):
    """MP4 is encoded in a staging folder and moved into place; an encoder that writes known bytes stands in for
    ffmpeg, which this test does not need."""
    import imageio.v3 as iio
    import torch

    from zoo3d.imageio import _save_mp4

    def encode(path, frames, **kwargs):
        Path(path).write_bytes(b"frames %d" % len(frames))

    monkeypatch.setattr(iio, "imwrite", encode)
    (tmp_path / "disk").mkdir()
    (tmp_path / "disk" / "t.mp4").write_text("old")
    os.symlink(tmp_path / "disk" / "t.mp4", tmp_path / "t.mp4")
    _save_mp4([torch.zeros(4, 4, 3, dtype=torch.uint8).numpy()] * 3, tmp_path / "t.mp4", 24)
    assert (tmp_path / "disk" / "t.mp4").read_bytes() == b"frames 3"
    assert (tmp_path / "t.mp4").is_symlink() and sorted(os.listdir(tmp_path / "disk")) == ["t.mp4"]


def test_a_link_to_something_not_a_regular_file_is_not_followed(tmp_path):
    """A rename onto what a link leads to must never replace a device (``/dev/null``) or a pipe: such a link is
    replaced by the file, as before (a pipe in the test's folder stands in for a device)."""
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "out.txt")
    write_text_atomic(tmp_path / "out.txt", "new")
    assert (tmp_path / "out.txt").read_text() == "new" and not (tmp_path / "out.txt").is_symlink()
    assert (tmp_path / "pipe").is_fifo()
