"""An output named with a slash at its end (``--out tt.gif/``, ``--out grid.png/``) names a folder; where the command
writes a file there, it is refused before any work, and nothing is written.

Before, ``Path('tt.gif/')`` is ``tt.gif``: ``render`` wrote a GIF file, ``sample`` an image, ``export`` a mesh and
``compare --json`` a report, each where the user had named a folder, exit status 0. ``render --out frames/`` (no
suffix) is a frames folder, as ``--out frames`` is."""

from __future__ import annotations

import os

import pytest

from conftest import one_line_error, run_in_process


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.mark.parametrize("out, suffix, stem", [("tt.gif/", ".gif", "tt"), ("a/t.WebP/", ".WebP", "t")])
def test_render_refuses_an_animation_file_named_as_a_folder(here, capsys, out, suffix, stem):
    code, stdout, err = run_in_process(capsys, "render", "oracle", "--frames", "2", "--resolution", "8", "--out", out)
    assert code == 2, stdout + err
    assert one_line_error(err) == (f"Error: Cannot write an animation to '{out}': the slash at its end names a folder, "
                                   f"but '{suffix}' names an animation file; drop the slash for the file, or name a "
                                   f"frames folder without a suffix, e.g. '{stem}/'.")
    assert os.listdir(here) == []


FILE_OPTIONS = [
    ("sample", "oracle", "--seeds", "0", "--resolution", "8", "--out", "g.png/"),
    ("export", "oracle", "--resolution", "8", "--out", "h.ply/"),
    ("compare", "--models", "oracle", "--metric", "swd", "--json", "r.json/"),
    ("compare", "--models", "oracle", "--metric", "swd", "--markdown", "r.md/"),
    ("train", "toy", "--config", "c.yaml/"),
]


@pytest.mark.parametrize("args", FILE_OPTIONS, ids=[f"{a[0]}-{a[-1]}" for a in FILE_OPTIONS])
def test_a_file_option_refuses_a_value_named_as_a_folder(here, capsys, args):
    option, value = args[-2], args[-1]
    code, stdout, err = run_in_process(capsys, *args)
    assert code == 2, stdout + err
    assert one_line_error(err) == (f"Error: Invalid value for '{option}': '{value}' ends in a slash, which names a "
                                   f"folder, and this takes a file; drop the slash. (see `zoo3d {args[0]} --help`)")
    assert os.listdir(here) == []


def test_render_into_a_folder_named_with_a_slash_writes_its_frames(here, capsys):
    code, stdout, err = run_in_process(capsys, "render", "oracle", "--frames", "2", "--resolution", "8", "--out",
                                       "fr/")
    assert code == 0, stdout + err
    assert sorted(os.listdir(here / "fr")) == ["frame_0000.png", "frame_0001.png"]
