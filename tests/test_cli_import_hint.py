"""The command ``zoo3d import`` ends with ("try `zoo3d sample …`") runs as printed.

A user copies that line; it must be a whole command, not one that stops at ``Missing option '--out'``. The
import is the real one, of GRAM's release-format fixture (``tests/fixtures/releases/gram_ema.pth``, written by the
authors' code at the widths of the ``tiny`` preset), into a folder whose name needs quoting in a shell.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import FIXTURES, run_in_process

pytestmark = pytest.mark.usefixtures("single_thread")


def test_the_suggested_sample_command_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "imported run"
    code, out, err = run_in_process(capsys, "import", "gram", FIXTURES / "releases" / "gram_ema.pth",
                                    "--preset", "tiny", "--out", run)
    assert code == 0, err
    hint = re.search(r"try `(zoo3d sample [^`]+)`\.\n\Z", out)
    assert hint, out
    argv = shlex.split(hint.group(1))
    assert argv[:3] == ["zoo3d", "sample", str(run)]
    code, out, err = run_in_process(capsys, *argv[1:])
    assert (code, err) == (0, ""), err
    written = re.fullmatch(r"Wrote (\d+) seeds x 1 view to (.+)\.\n", out)
    assert written and Path(written.group(2)).is_file() and int(written.group(1)) >= 1
