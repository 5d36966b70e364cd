"""An output whose folder on the way is a file (``--out afile/grid.png``) is refused before the model loads.

``sample`` and ``render`` rendered every image first and only then found that ``afile`` is a file, not a folder;
``invert`` and ``compare`` already said so before any work."""

from __future__ import annotations

import os

import pytest

from cli_toy import zoo3d
from conftest import one_line_error


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    (tmp_path / "afile").write_text("not a folder")
    return tmp_path


@pytest.mark.parametrize("args, what", [
    (("sample", "nowhere", "--out", "afile/g.png"), "image 'afile/g.png'"),
    (("sample", "nowhere", "--out", "afile/deeper/g.png"), "image 'afile/deeper/g.png'"),
    (("render", "nowhere", "--out", "afile/t.gif"), "animation 'afile/t.gif'"),
    (("render", "nowhere", "--out", "afile/frames"), "frames 'afile/frames'"),
    (("render", "nowhere", "--depth", "separate", "--out", "afile/t.webp"), "animation 'afile/t.webp'"),
])
def test_an_output_under_a_file_is_refused_before_the_model_loads(here, capsys, args, what):
    assert zoo3d(*args) == 2  # 'nowhere' is no model: had the model been loaded first, the error would name it
    assert one_line_error(capsys.readouterr().err) == (f"Error: Cannot write {what}: '{here / 'afile'}' is a file, "
                                                       f"not a folder.")
    assert sorted(os.listdir(here)) == ["afile"]


def test_a_folder_still_to_make_is_made(here, capsys):
    assert zoo3d("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out", "new/deeper/g.png") == 0
    assert (here / "new" / "deeper" / "g.png").stat().st_size > 0
