"""``zoo3d import`` given a path that exists but is no regular file: a pipe (what a shell's process substitution,
``zoo3d import gram <(gunzip -c generator.pth.gz) ...``, passes) is named as a pipe, not said not to exist."""

from __future__ import annotations

import os

import pytest

from conftest import one_line_error, run_in_process as zoo3d
from zoo3d.errors import UserError
from zoo3d.upstream import load_release


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_is_named_as_one_and_nothing_is_read_from_it(in_tmp, capsys):
    os.mkfifo(in_tmp / "generator.pth")  # opening it to read would block: the refusal must come first
    code, _, err = zoo3d(capsys, "import", "gram", "generator.pth", "--preset", "tiny", "--out", "run")
    assert code == 2 and not (in_tmp / "run").exists()
    assert one_line_error(err) == ("Error: generator.pth is not a regular file (a pipe or a device); save the "
                                   "release to a file and import that.")


def test_missing_files_and_folders_are_told_apart(tmp_path):
    with pytest.raises(UserError, match=r"^\S*missing\.pth does not exist\.$"):
        load_release(tmp_path / "missing.pth")
    (tmp_path / "FFHQ_default").mkdir()
    with pytest.raises(UserError, match=r"FFHQ_default is a folder, not a release file; give the file in it\.$"):
        load_release(tmp_path / "FFHQ_default")
