"""A target whose name is near the file system's limit is still written atomically.

The hidden temporary name ``.<name>.tmp-<pid>`` is 6 + len(pid) bytes longer than the target's; a target of 245
characters, which the file system takes, made ``zoo3d sample --out <245 characters>.png`` end in a traceback
(``OSError: File name too long``) after the whole grid was rendered."""

from __future__ import annotations

import os

import pytest

from conftest import run_in_process
from zoo3d.fileio import NAME_MAX, clean_stale_temps, temp_path, write_text_atomic


def _name(n: int, start: str = "a") -> str:
    return (start + "b" * n)[:n - 4] + ".txt"


def _needs_names_of(folder, length: int) -> None:
    """Skip where the file system under ``folder`` takes shorter names (eCryptfs: 143 bytes; most take 255)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        return
    if limit < length:
        pytest.skip(f"this file system takes names of at most {limit} bytes")


@pytest.mark.parametrize("length", [200, 245, NAME_MAX])
def test_a_name_the_file_system_takes_is_written_and_leaves_no_temporary(tmp_path, length):
    _needs_names_of(tmp_path, length)
    target = tmp_path / _name(length)
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello" and sorted(os.listdir(tmp_path)) == [target.name]
    assert len(temp_path(target).name.encode()) <= NAME_MAX


def test_two_long_names_that_share_their_start_have_temporaries_of_their_own(tmp_path):
    first, second = tmp_path / ("x" * 240 + "-1.txt"), tmp_path / ("x" * 240 + "-2.txt")
    assert temp_path(first) != temp_path(second)


def test_a_dead_process_temporary_of_a_long_target_is_cleaned_by_the_targets_name(tmp_path):
    _needs_names_of(tmp_path, NAME_MAX)
    target = tmp_path / _name(250)
    dead = temp_path(target).name.rsplit("-", 1)[0] + "-999999999"  # no such pid
    (tmp_path / dead).write_text("half")
    other = tmp_path / f".{'y' * 20}.tmp-999999999"
    other.write_text("someone else's")
    assert clean_stale_temps(tmp_path, target.name) == [tmp_path / dead]
    assert other.exists()


def test_short_names_keep_their_temporary_name_whole(tmp_path):
    assert temp_path(tmp_path / "grid.png").name == f".grid.png.tmp-{os.getpid()}"


def test_sample_writes_a_grid_under_a_245_character_name(tmp_path, monkeypatch, capsys):
    _needs_names_of(tmp_path, 245)
    monkeypatch.chdir(tmp_path)
    out = "g" * 241 + ".png"
    code, _, err = run_in_process(capsys, "sample", "oracle", "--seeds", "0", "--resolution", "8", "--out", out)
    assert code == 0, err
    assert (tmp_path / out).stat().st_size > 0 and os.listdir(tmp_path) == [out]
