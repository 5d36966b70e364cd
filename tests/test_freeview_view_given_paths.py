"""``zoo3d view PATH`` of a .gltf, .ply or .obj: the export that writes the .glb names a path beside the file given
(it named the bare file name, so the export typed as told wrote the .glb into the working directory)."""

from __future__ import annotations

import shlex

import pytest
from zoo3d.errors import UserError
from zoo3d.freeview import commands


def no_model():
    raise AssertionError("the model was loaded")


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
