"""A command zoo3d prints for the user to run (``zoo3d data check DIR``, the ``--resume`` line) names a path with a
character a terminal does not print as bash's ``$'...'``: the line shows it, and pasted back it is the same path.
Escaping a ``shlex.quote``d word afterwards (as the lines did) also escaped its quotes, so a path holding a ``'``
pasted back as another path."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from zoo3d.errors import shell_line, shell_word

PATHS = ["plain/path", "with space/and 'quote'", "faces\r", "a'b\rc", "tab\there\\back", "x\x1b[2Jy", "zero\u200bwidth",
         "näive é", "new\nline"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize("path", PATHS)
def test_a_word_pastes_back_into_bash_as_the_path(path):
    word = shell_word(path)
    assert word.isprintable()
    done = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert done.stdout.decode("utf-8") == path


def test_a_printable_path_is_quoted_as_shlex_quotes_it():
    assert shell_word("plain/path") == "plain/path"
    assert shell_word("with space") == "'with space'"
    assert shell_word("faces\r") == "$'faces\\r'"
    assert shell_line(["zoo3d", "data", "check", "a'b\rc"]) == "zoo3d data check $'a\\'b\\rc'"


def test_data_checks_command_in_a_refusal_names_such_a_folder_so(tmp_path, capsys):
    from conftest import run_in_process

    folder = tmp_path / "it's\rhere"
    (folder / "images").mkdir(parents=True)
    (folder / "poses.json").write_text('{"images/0.png": {"yaw": 0.0, "pitch": 0.0}}')
    code, _, err = run_in_process(capsys, "train", "gram", "--data", folder, "--steps", "1", "--out", tmp_path / "r")
    assert code == 2
    word = shell_word(str(folder))
    assert f"`zoo3d data check {word}`" in err, err
