"""``zoo3d export --format F --out NAME`` with a NAME without a suffix: ``--format ply --out head`` wrote a PLY file
called ``head`` (which mesh viewers and loaders, going by the suffix, do not open as a mesh) with exit status 0, while
``--format glb --out head`` was refused only after the model had loaded. Every format now refuses such a name in the
sentence docs/errors.md gives, before the model loads and before anything is written, as ``zoo3d sample`` refuses an
image name it cannot tell the format of."""

from __future__ import annotations

import pytest

from cli_toy import zoo3d
from conftest import one_line_error
from zoo3d.mesh import read_obj, read_ply


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb", "gltf", "PLY"])
@pytest.mark.parametrize("out", ["head", "sub/head", "head."])
def test_a_format_with_a_name_without_its_suffix_is_refused_before_the_model_loads(here, capsys, fmt, out):
    # 'nowhere' is no run or model: had the model been loaded first, the error would name it instead
    assert zoo3d("export", "nowhere", "--format", fmt, "--out", out) == 2
    said = f"--format {fmt.lower()} needs an --out file named *.{fmt.lower()}, not '{out}'."
    assert one_line_error(capsys.readouterr().err) == f"Error: {said}"
    assert sorted(p.name for p in here.iterdir()) == []


@pytest.mark.parametrize("fmt, out, read", [("ply", "head.ply", read_ply), ("OBJ", "head.obj", read_obj)])
def test_the_named_file_is_written_as_the_format_says(here, capsys, fmt, out, read):
    assert zoo3d("export", "--model", "oracle", "--resolution", "8", "--format", fmt, "--out", out) == 0
    assert sorted(p.name for p in here.iterdir()) == [out]
    mesh = read(here / out)
    assert capsys.readouterr().out == (f"Wrote {mesh.num_vertices} vertices and {mesh.num_faces} faces "
                                       f"({fmt.lower()}) to {out}.\n")
