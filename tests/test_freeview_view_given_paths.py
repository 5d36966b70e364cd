"""``zoo3d view PATH`` where PATH is not what its suffix says: a folder named like a file is said to be a folder
(it was "No such file"), and the export that writes the .glb for a .gltf, .ply or .obj names a path beside the file
given (it named the bare file name, so the export typed as told wrote the .glb into the working directory)."""

from __future__ import annotations

import shlex

import pytest
from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.errors import UserError
from zoo3d.freeview import commands


def no_model():
    raise AssertionError("the model was loaded")


@pytest.mark.parametrize("name", ["d.glb", "d.GLTF", "d.ply"])
def test_a_folder_named_like_a_file_is_said_to_be_a_folder(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    (path / "0.png").write_bytes(b"")  # not a run
    with pytest.raises(UserError) as err:
        commands.viewer_source(str(path), no_model, 0, 0.7)
    suffix = path.suffix.lower()
    assert str(err.value) == (f"'{path}' is a folder, not a {suffix} file, and holds no run; zoo3d view takes a .glb "
                              f"file written by zoo3d export, or a run.")


def test_a_run_folder_named_like_a_file_is_viewed_as_the_run(tmp_path):
    run = tmp_path / "head.glb"
    run.mkdir()
    (run / "config.yaml").write_text("{}\n")

    class Loaded(Exception):
        pass

    def load():
        raise Loaded

    with pytest.raises(Loaded):  # the run's model is what is asked for, not a file
        commands.viewer_source(str(run), load, 0, 0.7)


@pytest.mark.parametrize("given", ["out/head.gltf", "out/head.PLY", "a b/head.obj", "head.gltf"])
def test_the_export_named_writes_the_glb_beside_the_file_given(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        commands.viewer_source(given, no_model, 0, 0.7)
    said = str(err.value)
    assert said.endswith(".") and "zoo3d export ... --out " in said, said
    words = shlex.split(said.rstrip(".").split("zoo3d export ... ", 1)[1])  # as a shell reads the line typed
    assert words[0] == "--out" and len(words) == 2
    out = tmp_path / words[1]
    assert out.parent == (tmp_path / given).parent and out.name == (tmp_path / given).stem + ".glb"


def test_the_cli_says_a_folder_is_one_in_one_line_with_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.glb").mkdir()
    assert zoo3d("view", "d.glb") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: 'd.glb' is a folder, not a .glb file, and holds no run; zoo3d view takes a .glb file written by zoo3d "
        "export, or a run.")
