"""Run folders (zoo3d.runs): the runs root, new folder names, what counts as a run, the run lock, finding runs
newest first, and the sentences a user sees about them, each naming the folder (docs/training.md, "Run folders";
docs/errors.md, "Run folders")."""

from __future__ import annotations

import time

import pytest

from zoo3d import runs
from zoo3d.errors import UserError


@pytest.fixture
def fixed_clock(monkeypatch):
    real = time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt, *a: real(fmt, time.struct_time((2026, 1, 2, 3, 4, 5, 4, 2, 0))))


def test_a_runs_root_that_is_a_file_is_named_with_what_to_do(tmp_path, fixed_clock):
    root = tmp_path / "runs"
    root.write_text("")
    with pytest.raises(UserError) as err:
        runs.new_run_dir("gram", root)
    assert str(err.value) == f"Runs root '{root}' is a file, not a folder (set ZOO3D_RUNS or give --out)."
    assert root.read_text() == ""
