"""`zoo3d invert`'s output folders stay inside --out whatever the photo's name: a name whose stem is '.' or '..'
('..png', '...png') would make its folder --out itself or the folder above it; such a photo gets a folder named
after its whole file name instead."""

from __future__ import annotations

import shutil

import pytest

from test_invert_cli import _zoo3d
from test_invert_cli import toy_image  # noqa: F401 (a fixture)
from zoo3d.cli.invert import _out_dirs


@pytest.mark.parametrize("name", ["..png", "...png"])
def test_a_photo_named_dot_dot_is_inverted_into_its_own_folder_inside_out(toy_image, tmp_path, capsys, name):
    work = tmp_path / "work"
    work.mkdir()
    photo = work / name
    shutil.copy(toy_image, photo)
    code, _, err = _zoo3d(capsys, "invert", str(photo), "--model", "toy_procedural", "--method", "optimize", "--pose",
                          "0,0", "--steps", "0", "--frames", "1", "--out", str(work / "out"))
    assert code == 0, err
    assert sorted(p.name for p in work.iterdir()) == sorted([name, "out"])  # nothing beside --out
    assert [p.name for p in (work / "out").iterdir()] == [name]
    assert (work / "out" / name / "reconstruction.png").is_file()


def test_such_names_keep_the_numbering_of_the_others(tmp_path):
    assert _out_dirs(("a/..png", "b/..png", "c/face.png"), tmp_path) == [tmp_path / "..png", tmp_path / "..png-2",
                                                                         tmp_path / "face"]
