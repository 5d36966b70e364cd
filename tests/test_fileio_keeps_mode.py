"""A file zoo3d writes again keeps the permission bits the user gave it (a script's output made group-writable for a
shared project folder, a file made executable, one made read-only), as ``cp`` onto an existing file does; before,
the atomic write's temporary file came back as the umask made it (0644). A hard link is not written through: the
name gets a new file and the file's other names keep the earlier content, as a ``cp -al`` snapshot needs."""

from __future__ import annotations

import os
import stat

import pytest

from conftest import run_in_process
from zoo3d.fileio import write_text_atomic


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("kept", [0o664, 0o775, 0o444, 0o600], ids=oct)
def test_a_file_written_again_keeps_its_permission_bits(tmp_path, kept):
    path = tmp_path / "report.json"
    path.write_text("old")
    os.chmod(path, kept)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and mode(path) == kept


def test_a_new_file_has_the_mode_the_umask_gives(tmp_path):
    previous = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "new.json", "new")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "new.json") == 0o640


def test_through_a_link_the_file_keeps_its_own_mode(tmp_path):
    (tmp_path / "disk").mkdir()
    target = tmp_path / "disk" / "a.txt"
    target.write_text("old")
    os.chmod(target, 0o660)
    os.symlink(target, tmp_path / "a.txt")
    write_text_atomic(tmp_path / "a.txt", "new")
    assert target.read_text() == "new" and mode(target) == 0o660 and (tmp_path / "a.txt").is_symlink()


def test_the_other_name_of_a_hard_link_keeps_the_earlier_content(tmp_path):
    (tmp_path / "snapshot").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("old")
    os.link(path, tmp_path / "snapshot" / "config.yaml")  # cp -al run snapshot/
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and (tmp_path / "snapshot" / "config.yaml").read_text() == "old"


def test_a_group_writable_grid_stays_group_writable(tmp_path, capsys, single_thread):
    grid = tmp_path / "g.png"
    grid.write_text("old")
    os.chmod(grid, 0o664)
    code, out, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out", grid)
    assert code == 0, out + err
    assert grid.read_bytes().startswith(b"\x89PNG") and mode(grid) == 0o664


def test_a_mode_without_read_access_is_given_after_the_new_file_is_flushed(tmp_path, monkeypatch):
    """The flush to disk opens the new file to read it; a mode taken over before it (0o200, write only) made that open
    fail for any user but root, and the write with it."""
    import zoo3d.fileio as fileio

    flushed_at = []
    flush = fileio._fsync
    monkeypatch.setattr(fileio, "_fsync", lambda p: (flushed_at.append(mode(p)), flush(p)))
    path = tmp_path / "log.txt"
    path.write_text("old")
    os.chmod(path, 0o200)
    write_text_atomic(path, "new")
    assert mode(path) == 0o200 and flushed_at and flushed_at[0] != 0o200
