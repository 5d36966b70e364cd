"""Outputs built in a hidden staging folder and moved into place (``zoo3d invert``'s four files, ``compare``'s
evidence images, an MP4; tests/test_invert_outputs.py has invert's) are moved as a single file is written: through
an output that is a symbolic link to a file that exists, keeping the permission bits of the file they replace.
Before, the move renamed the new file over the link, which became a plain file while the file it led to kept its old
content."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import torch

from zoo3d import fileio


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def linked(tmp_path):
    """``out/a.png``, a link to ``disk/a.png`` (0664, holding 'old'), and ``staging/a.png`` holding 'new'."""
    for folder in ("disk", "out", "staging"):
        (tmp_path / folder).mkdir()
    (tmp_path / "disk" / "a.png").write_text("old")
    os.chmod(tmp_path / "disk" / "a.png", 0o664)
    os.symlink(os.path.join("..", "disk", "a.png"), tmp_path / "out" / "a.png")
    (tmp_path / "staging" / "a.png").write_text("new")
    return tmp_path


def test_a_staged_file_is_moved_through_a_link_onto_its_file(linked):
    from zoo3d.fileio import place

    assert place(linked / "staging" / "a.png", linked / "out" / "a.png") == linked / "disk" / "a.png"
    assert (linked / "disk" / "a.png").read_text() == "new" and mode(linked / "disk" / "a.png") == 0o664
    assert os.readlink(linked / "out" / "a.png") == os.path.join("..", "disk", "a.png")
    assert os.listdir(linked / "staging") == [] and os.listdir(linked / "disk") == ["a.png"]


def test_a_link_to_another_file_system_is_written_through_a_copy_beside_its_file(linked, monkeypatch):
    """A rename cannot cross file systems (EXDEV): the staged file is copied beside the file the link leads to and
    renamed there."""
    renames = []

    def replace(src, dst, real=os.replace):
        renames.append(Path(src).parent.name)
        if Path(src).parent.name == "staging":
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace)
    fileio.place(linked / "staging" / "a.png", linked / "out" / "a.png")
    assert renames == ["staging", "disk"]
    assert (linked / "disk" / "a.png").read_text() == "new" and mode(linked / "disk" / "a.png") == 0o664
    assert (linked / "out" / "a.png").is_symlink()
    assert os.listdir(linked / "staging") == [] and os.listdir(linked / "disk") == ["a.png"]


def test_compare_evidence_is_moved_through_a_link_into_an_existing_folder(linked):
    from zoo3d.cli.compare import place_evidence

    result = {"evidence": {"epi": [str(linked / "staging" / "a.png")]}}
    place_evidence(result, linked / "staging", linked / "out")
    assert (linked / "disk" / "a.png").read_text() == "new" and (linked / "out" / "a.png").is_symlink()
    assert result["evidence"] == {"epi": [str(linked / "out" / "a.png")]}


def test_an_mp4_written_again_keeps_its_mode(tmp_path, monkeypatch):
    import imageio.v3 as iio

    from zoo3d.imageio import _save_mp4

    monkeypatch.setattr(iio, "imwrite", lambda path, frames, **_: Path(path).write_bytes(b"frames %d" % len(frames)))
    (tmp_path / "t.mp4").write_text("old")
    os.chmod(tmp_path / "t.mp4", 0o660)
    _save_mp4([torch.zeros(4, 4, 3, dtype=torch.uint8).numpy()] * 2, tmp_path / "t.mp4", 24)
    assert (tmp_path / "t.mp4").read_bytes() == b"frames 2" and mode(tmp_path / "t.mp4") == 0o660
