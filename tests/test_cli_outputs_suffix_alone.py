"""An output named by its suffix alone (``--out .gif``, as ``--out "$name.gif"`` reads with an empty ``$name``) is a
hidden name without a suffix to Python: ``zoo3d render`` wrote a hidden folder of PNG frames called ``.gif`` with exit
status 0, and ``sample`` and ``export`` answered that the name needed the very suffix it has. Each now says what is
wrong, in one sentence, before the model loads; a hidden name that is no known suffix stays a frames folder."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.mark.parametrize("args, said", [
    (("render", "nowhere", "--out", ".gif"),
     "Cannot write an animation to '.gif': the file name is the suffix alone (it would be a hidden folder of frames); "
     "name it, e.g. 'turntable.gif'."),
    (("render", "nowhere", "--out", "sub/.MP4"), "Cannot write an animation to 'sub/.MP4': the file name is the suffix "
                                                 "alone (it would be a hidden folder of frames); name it, e.g. "
                                                 "'turntable.MP4'."),
    (("render", "nowhere", "--depth", "separate", "--out", ".webp"),
     "Cannot write an animation to '.webp': the file name is the suffix alone (it would be a hidden folder of frames); "
     "name it, e.g. 'turntable.webp'."),
    (("sample", "nowhere", "--out", ".png"), "Cannot write an image to '.png': the file name is the suffix alone; name "
                                             "it, e.g. 'grid.png'."),
    (("sample", "nowhere", "--out", "sub/.jpg"), "Cannot write an image to 'sub/.jpg': the file name is the suffix "
                                                 "alone; name it, e.g. 'grid.jpg'."),
    (("export", "nowhere", "--out", ".ply"),
     "Cannot write a mesh to '.ply': the file name is the suffix alone; name it, e.g. 'head.ply'."),
    (("export", "nowhere", "--format", "glb", "--out", ".glb"), "Cannot write a mesh to '.glb': the file name is the "
                                                                "suffix alone; name it, e.g. 'head.glb'."),
])
def test_a_name_that_is_only_a_suffix_is_refused_before_the_model_loads(here, capsys, args, said):
    assert zoo3d(*args) == 2  # 'nowhere' is no model: had the model been loaded first, the error would name it
    assert one_line_error(capsys.readouterr().err) == f"Error: {said}"
    assert sorted(p.name for p in here.iterdir()) == []


def test_a_hidden_name_that_is_no_suffix_is_still_a_frames_folder(here, capsys):
    assert zoo3d("render", "oracle", "--frames", "2", "--resolution", "8", "--out", ".frames") == 0
    assert sorted(p.name for p in (here / ".frames").iterdir()) == ["frame_0000.png", "frame_0001.png"]
    assert zoo3d("render", "oracle", "--frames", "2", "--resolution", "8", "--out", "t.gif") == 0  # named: a GIF
    assert (here / "t.gif").read_bytes()[:6] == b"GIF89a"
