"""``zoo3d export``'s options against docs/errors.md and the command's help: the mesh file is the marching-cubes mesh
of the asked seed at the asked psi (0.5 by default), level, grid and colours, in the format the suffix or --format
names; mismatched names and options the format would ignore are refused in their documented sentences before
the model loads. The checkpoint-free oracle (an SDF of synthetic heads) is the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cli_toy import latent, zoo3d
from conftest import one_line_error
from zoo3d.mesh import read_obj, read_ply


@pytest.fixture
def here(tmp_path, monkeypatch, single_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO3D_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _mesh(seed, psi, resolution, level=None, colors=True):
    """The oracle's mesh through the Python API: the seed's latent, the representation at psi, marching cubes."""
    from zoo3d.mesh import extract_mesh
    from zoo3d.runs import load_model

    gen = load_model(None, model="oracle", device="cpu").generator
    with torch.no_grad():
        return extract_mesh(gen.represent(latent(seed, gen.z_dim), psi=psi), resolution=resolution, level=level,
                            colors=colors)


def _same(mesh, want):
    assert mesh.faces.shape == want.faces.shape and (mesh.faces == want.faces).all()
    assert np.abs(mesh.vertices - want.vertices).max() <= 1e-6
    if want.colors is None:
        assert mesh.colors is None
    else:
        assert (mesh.colors == want.colors).all()


def test_a_ply_is_the_seeds_mesh_at_psi_0_5(here, capsys):
    assert zoo3d("export", "--model", "oracle", "--seed", "3", "--resolution", "16", "--out", "h.ply") == 0
    mesh = read_ply(here / "h.ply")
    assert capsys.readouterr().out == f"Wrote {mesh.num_vertices} vertices and {mesh.num_faces} faces (ply) to h.ply.\n"
    want = _mesh(3, 0.5, 16)
    _same(mesh, want)
    assert mesh.vertices.shape != _mesh(3, 0.7, 16).vertices.shape or \
        np.abs(mesh.vertices - _mesh(3, 0.7, 16).vertices).max() > 1e-3  # teeth: psi 0.7 is another head
    assert mesh.vertices.shape != _mesh(4, 0.5, 16).vertices.shape or \
        np.abs(mesh.vertices - _mesh(4, 0.5, 16).vertices).max() > 1e-3  # and seed 4 another


def test_psi_level_and_no_colors_reach_the_mesh(here, capsys):
    assert zoo3d("export", "--model", "oracle", "--seed", "1", "--psi", "0.9", "--level", "0.01", "--resolution", "12",
                 "--no-colors", "--out", "h.obj") == 0
    mesh = read_obj(here / "h.obj")
    assert capsys.readouterr().out == f"Wrote {mesh.num_vertices} vertices and {mesh.num_faces} faces (obj) to h.obj.\n"
    _same(mesh, _mesh(1, 0.9, 12, level=0.01, colors=False))


def test_the_seed_defaults_to_0_and_the_grid_to_128_points_in_chunks_of_65536(here, capsys, monkeypatch):
    from zoo3d import mesh as meshing

    seen = []
    real = meshing.extract_mesh

    def small(rep, **kw):  # the options as the command passes them; the grid itself meshed at 10 points
        seen.append(kw)
        return real(rep, **{**kw, "resolution": 10})

    monkeypatch.setattr(meshing, "extract_mesh", small)
    assert zoo3d("export", "--model", "oracle", "--out", "h.ply") == 0
    assert seen == [{"resolution": 128, "level": None, "chunk": 65536, "colors": True, "device": torch.device("cpu"),
                     "dtype": torch.float32}]
    _same(read_ply(here / "h.ply"), _mesh(0, 0.5, 10))
    assert zoo3d("export", "--model", "oracle", "--chunk", "9", "--resolution", "8", "--out", "c.ply") == 0
    assert seen[-1]["chunk"] == 9 and seen[-1]["resolution"] == 8


@pytest.mark.parametrize("args, fmt, read", [
    (("--format", "OBJ", "--out", "h.obj"), "obj", read_obj),
    (("--format", "ply", "--out", "h.PLY"), "ply", read_ply),
    (("--out", "H.PLY"), "ply", read_ply),
])
def test_the_format_comes_from_format_or_the_suffix_in_any_case(here, capsys, args, fmt, read):
    assert zoo3d("export", "--model", "oracle", "--resolution", "10", *args) == 0
    out = args[-1]
    assert capsys.readouterr().out.endswith(f" ({fmt}) to {out}.\n")
    _same(read(here / out), _mesh(0, 0.5, 10))


@pytest.mark.parametrize("args, said", [
    (("--format", "obj", "--out", "x.ply"),
     "--format obj disagrees with the suffix of 'x.ply'; name the file 'x.obj' or give --format ply."),
    (("--out", "x.stl"), "Cannot tell the mesh format of 'x.stl': give --format ply, obj, glb or gltf, or a file name "
                         "with one of those suffixes."),
    (("--out", "x.Xply"), "Cannot tell the mesh format of 'x.Xply': give --format ply, obj, glb or gltf, or a file "
                          "name with one of those suffixes."),
    (("--out", "mesh"), "Cannot tell the mesh format of 'mesh': give --format ply, obj, glb or gltf, or a file name "
                        "with one of those suffixes."),
    (("--out", "x.glb", "--level", "0.5"), "--level sets marching cubes (ply, obj), not a glb export; leave it out or "
                                           "choose that format."),
    (("--out", "x.gltf", "--no-colors", "--resolution", "64"),
     "--no-colors and --resolution set marching cubes (ply, obj), not a gltf export; leave them out or choose that "
     "format."),
    (("--format", "glb", "--out", "x.ply", "--chunk", "4"),
     "--format glb disagrees with the suffix of 'x.ply'; name the file 'x.glb' or give --format ply."),
    (("--out", "x.obj", "--texture-resolution", "64"),
     "--texture-resolution sets the textured layers (glb, gltf), not an obj export; leave it out or choose that "
     "format."),
    (("--format", "glb", "--out", "layers"), "--format glb needs an --out file named *.glb, not 'layers'."),
])
def test_names_and_options_the_format_cannot_take_are_refused(here, capsys, args, said):
    assert zoo3d("export", "--model", "oracle", *args) == 2
    assert one_line_error(capsys.readouterr().err) == "Error: " + said
    assert not list(here.iterdir())


def test_the_ignored_options_are_named_before_the_model_loads(here, capsys):
    assert zoo3d("export", "nowhere", "--out", "x.glb", "--chunk", "3", "--level", "1", "--resolution", "9") == 2
    assert one_line_error(capsys.readouterr().err) == (
        "Error: --chunk, --level and --resolution set marching cubes (ply, obj), not a glb export; leave them out "
        "or choose that format.")


def test_options_left_at_their_defaults_are_not_refused(here, capsys):
    # the defaults restated are not typed options: ply/obj options at their values with glb are not refused
    assert zoo3d("export", "nowhere", "--out", "x.glb") == 2
    assert "neither a run folder" in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("args, said", [
    (("--level", "nan"), "Error: Invalid value for '--level': 'nan' is not a finite number."),
    (("--psi", "nan"), "Error: Invalid value for '--psi': 'nan' is not a number in the range 0<=x<=1."),
    (("--resolution", "7"), "Error: Invalid value for '--resolution': 7 is not in the range 8<=x<=1024."),
    (("--format", "stl"), "Error: Invalid value for '--format': 'stl' is not one of 'ply', 'obj', 'glb', 'gltf'."),
])
def test_values_that_cannot_mesh_are_refused_naming_the_option(here, capsys, args, said):
    assert zoo3d("export", "--model", "oracle", *args, "--out", "x.ply") == 2
    assert one_line_error(capsys.readouterr().err) == said + " (see `zoo3d export --help`)"


def test_glb_and_gltf_hand_the_seed_psi_0_7_and_the_texture_size_to_the_layered_export(here, capsys, monkeypatch):
    """The layers themselves are test_freeview_commands.py's; here, what the command hands them."""
    from zoo3d.freeview import commands as freeview_commands

    seen = []

    def export_gltf(gen, name, seed, psi, out, texture_resolution):
        seen.append((type(gen).__name__, name, seed, psi, out, texture_resolution))
        return f"Wrote the layers to {out}."

    monkeypatch.setattr(freeview_commands, "export_gltf", export_gltf)
    assert zoo3d("export", "--model", "oracle", "--out", "h.glb") == 0
    assert capsys.readouterr().out == "Wrote the layers to h.glb.\n"
    assert zoo3d("export", "--model", "oracle", "--format", "GLTF", "--out", "h.gltf", "--seed", "5", "--psi", "0.3",
                 "--texture-resolution", "64") == 0
    assert zoo3d("export", "--model", "oracle", "--format", "glb", "--out", "H.GLB") == 0
    assert seen == [("OracleGenerator", "oracle", 0, 0.7, "h.glb", None),
                    ("OracleGenerator", "oracle", 5, 0.3, "h.gltf", 64),
                    ("OracleGenerator", "oracle", 0, 0.7, "H.GLB", None)]
