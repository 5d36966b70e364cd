"""``zoo3d view`` of the PLY or OBJ mesh ``zoo3d export`` writes is pointed at the .glb, before any model loads."""

from __future__ import annotations

import pytest
from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.errors import UserError
from zoo3d.freeview import commands


@pytest.mark.parametrize("name", ["head.ply", "head.obj", "Head.PLY"])
def test_a_mesh_file_is_refused_with_the_export_that_writes_the_glb(tmp_path, name):
    def no_model():
        raise AssertionError("the model was loaded")

    path = tmp_path / name
    path.write_bytes(b"ply\n")
    with pytest.raises(UserError) as err:
        commands.viewer_source(str(path), no_model, 0, 0.7)
    assert str(err.value) == (f"The viewer shows a .glb's textured manifold layers, not the marching-cubes mesh in "
                              f"'{path}' (open that in a mesh viewer); write the layers with zoo3d export ... --out "
                              f"{path.with_suffix('.glb')}.")  # beside the mesh


def test_the_cli_says_it_in_one_line_with_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "head.ply").write_bytes(b"ply\n")
    assert zoo3d("view", "head.ply") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: The viewer shows a .glb's textured manifold layers, not the marching-cubes mesh in 'head.ply' (open "
        "that in a mesh viewer); write the layers with zoo3d export ... --out head.glb.")
