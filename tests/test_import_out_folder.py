"""Where ``zoo3d import`` writes its run: an --out it cannot make is refused before the file is read, and a write
that fails part way (a full disk) leaves no run folder, so the same command runs again once there is room."""

from __future__ import annotations

import errno

import pytest

from conftest import FIXTURES, one_line_error, run_in_process as zoo3d

pytestmark = pytest.mark.usefixtures("single_thread")

RELEASE = FIXTURES / "releases" / "gram_generator.pth"


def test_an_out_folder_below_a_file_is_one_sentence_before_any_work(in_tmp, capsys, monkeypatch):
    (in_tmp / "notes.txt").write_text("a file\n")

    def never(path):
        raise AssertionError("the release was read although --out cannot be made")

    monkeypatch.setattr("zoo3d.upstream.importing.load_release", never)
    code, _, err = zoo3d(capsys, "import", "gram", RELEASE, "--preset", "tiny", "--out", "notes.txt/run")
    line = one_line_error(err)
    assert code == 2
    assert line == f"Error: Cannot write run folder 'notes.txt/run': '{in_tmp / 'notes.txt'}' is a file, not a folder."
    assert sorted(p.name for p in in_tmp.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("out_exists", [False, True])
def test_a_full_disk_leaves_no_run_folder_and_the_command_runs_again(in_tmp, capsys, monkeypatch, out_exists):
    if out_exists:
        (in_tmp / "run").mkdir()  # an empty folder is a valid --out
    import safetensors.torch

    real = safetensors.torch.save_file

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    code, _, err = zoo3d(capsys, "import", "gram", RELEASE, "--preset", "tiny", "--out", "run")
    assert code == 2
    assert one_line_error(err) == "Error: Cannot write run folder 'run': the disk is full; nothing was half-written."
    left = sorted(p.name for p in in_tmp.iterdir())
    assert left == (["run"] if out_exists else []), left
    if out_exists:
        assert list((in_tmp / "run").iterdir()) == []

    monkeypatch.setattr(safetensors.torch, "save_file", real)
    code, out, err = zoo3d(capsys, "import", "gram", RELEASE, "--preset", "tiny", "--out", "run")
    assert code == 0, err
    assert sorted(p.name for p in (in_tmp / "run").iterdir()) == ["checkpoints", "config.yaml", "latest"]
    assert (in_tmp / "run" / "latest").read_text() == "checkpoints/step_000000000.safetensors\n"
    assert (in_tmp / "run" / "checkpoints" / "step_000000000.safetensors").is_file()


def test_the_working_folder_itself_takes_the_run_when_it_is_empty(in_tmp, capsys, monkeypatch):
    """``--out .`` in an empty folder: the run is staged inside it (no folder beside it, none removed)."""
    (in_tmp / "here").mkdir()
    monkeypatch.chdir(in_tmp / "here")
    code, out, err = zoo3d(capsys, "import", "gram", RELEASE, "--preset", "tiny", "--out", ".")
    assert code == 0, err
    assert sorted(p.name for p in (in_tmp / "here").iterdir()) == ["checkpoints", "config.yaml", "latest"]
    assert sorted(p.name for p in in_tmp.iterdir()) == ["here"]
    assert "`zoo3d sample . --seeds 0-7 --out grid.png`" in out
