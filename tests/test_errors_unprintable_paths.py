"""A path or name with a character a terminal does not print (a carriage return, ESC) is shown in a refusal with
Python's escapes, as ``data check`` shows it: printed raw, a '\\r' moved the cursor back to the start of the line and
the rest of the sentence overwrote its beginning. ``$ZOO3D_RUNS`` ending in a carriage return (set from a ``.env``
file or script saved with Windows line endings) is refused, as a path option that ends in one is: it made a runs
folder named 'runs\\r' beside 'runs'."""

from __future__ import annotations

import os

import pytest

from conftest import one_line_error, run_in_process
from zoo3d.errors import CRLF


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


REFUSALS = [
    (("sample", "ab\rcd/x.safetensors", "--seeds", "0", "--out", "g.png"),
     "Checkpoint file 'ab\\rcd/x.safetensors' does not exist."),
    (("sample", "ab\rcd/run", "--seeds", "0", "--out", "g.png"),
     "Run folder or checkpoint 'ab\\rcd/run' does not exist."),
    (("train", "gram", "--config", "a\rb.yaml"), "Config file 'a\\rb.yaml' does not exist."),
    (("train", "gram", "--data", "faces\x1b[2J"),
     "Dataset 'faces\\x1b[2J' is neither a registered dataset (synthetic:heads) nor an existing folder or zip."),
]


@pytest.mark.parametrize("args, said", REFUSALS, ids=["checkpoint", "run", "config", "data"])
def test_a_refused_path_is_shown_with_escapes(here, capsys, args, said):
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: {said}"


def test_a_pickle_with_a_carriage_return_in_its_name_is_named_with_escapes(here, capsys):
    (here / "ckpt\r1.pt").write_bytes(b"PK\x03\x04 a torch.save zip")
    code, stdout, err = run_in_process(capsys, "sample", "ckpt\r1.pt", "--seeds", "0", "--out", "g.png")
    assert code == 2, stdout + err
    assert one_line_error(err).startswith("Error: 'ckpt\\r1.pt' is a pickle-based file;")


@pytest.mark.parametrize("args", [("train", "gram", "--steps", "1"),
                                  ("sample", "gram", "--seeds", "0", "--out", "g.png")], ids=["train", "sample"])
def test_zoo3d_runs_ending_in_a_carriage_return_is_refused(here, capsys, monkeypatch, args):
    monkeypatch.setenv("ZOO3D_RUNS", "runs\r")
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: $ZOO3D_RUNS 'runs\\r' {CRLF}"
    assert os.listdir(here) == []


def test_a_link_made_by_a_crlf_script_is_refused_with_its_target_escaped(here, capsys):
    """``ln -s /mnt/scratch/exp runlink`` in a script with Windows line endings links to 'exp\\r': not there."""
    os.symlink(str(here / "scratch" / "exp\r"), here / "runlink")
    (here / "scratch").mkdir()
    code, stdout, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out",
                                       "runlink/g.png")
    assert code == 2, stdout + err
    assert one_line_error(err) == (f"Error: Cannot write image 'runlink/g.png': 'runlink' is a symbolic link to "
                                   f"'{here / 'scratch'}/exp\\r', which does not exist; remove the link, or give the "
                                   f"path where the output should go.")


def test_an_output_under_a_file_with_a_carriage_return_in_its_name_is_named_with_escapes(here, capsys):
    (here / "a\rb").write_text("a file")
    code, stdout, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out",
                                       "a\rb/g.png")
    assert code == 2, stdout + err
    assert one_line_error(err) == f"Error: Cannot write image 'a\\rb/g.png': '{here}/a\\rb' is a file, not a folder."
