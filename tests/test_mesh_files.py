"""PLY and OBJ files of a hand-made mesh against their bytes written out, and what the readers give back."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from zoo3d.fileio import WriteError
from zoo3d.mesh import Mesh, read_obj, read_ply, write_mesh, write_obj, write_ply

VERTICES = np.array([[0.0, 0.0, 0.0], [1.5, -0.25, 2.5e-5], [0.1, 1.0, 0.5]], dtype=np.float32)
FACES = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.int64)
COLORS = np.array([[255, 0, 0], [0, 128, 255], [7, 8, 9]], dtype=np.uint8)

HEAD = ["ply", "comment zoo3d mesh", "element vertex 3", "property float x", "property float y", "property float z"]
RGB = ["property uchar red", "property uchar green", "property uchar blue"]
TAIL = ["element face 2", "property list uchar int vertex_indices", "end_header"]


def _header(fmt: str, colors: bool) -> bytes:
    lines = HEAD[:1] + [f"format {fmt} 1.0"] + HEAD[1:] + (RGB if colors else []) + TAIL
    return ("\n".join(lines) + "\n").encode("ascii")


def _binary_body(colors: bool) -> bytes:
    rows = [struct.pack("<3f", *v) + (struct.pack("<3B", *c) if colors else b"") for v, c in zip(VERTICES, COLORS)]
    return b"".join(rows) + b"".join(struct.pack("<B3i", 3, *f) for f in FACES)


def _mesh(colors: bool) -> Mesh:
    return Mesh(VERTICES.copy(), FACES.copy(), COLORS.copy() if colors else None)


def _assert_same_mesh(back: Mesh, colors: bool) -> None:
    assert back.vertices.dtype == np.float32 and back.faces.dtype == np.int64
    np.testing.assert_array_equal(back.vertices, VERTICES)
    np.testing.assert_array_equal(back.faces, FACES)
    if colors:
        assert back.colors.dtype == np.uint8
        np.testing.assert_array_equal(back.colors, COLORS)
    else:
        assert back.colors is None


@pytest.mark.parametrize("colors", [True, False])
def test_binary_ply_is_the_header_then_little_endian_records(tmp_path, colors):
    path = write_ply(_mesh(colors), tmp_path / "m.ply")  # binary unless asked otherwise
    assert path.read_bytes() == _header("binary_little_endian", colors) + _binary_body(colors)
    _assert_same_mesh(read_ply(path), colors)


@pytest.mark.parametrize("colors", [True, False])
def test_ascii_ply_writes_seven_significant_digits_and_counted_faces(tmp_path, colors):
    rgb = [" 255 0 0", " 0 128 255", " 7 8 9"] if colors else ["", "", ""]
    body = f"0 0 0{rgb[0]}\n1.5 -0.25 2.5e-05{rgb[1]}\n0.1 1 0.5{rgb[2]}\n3 0 1 2\n3 2 1 0\n"
    path = write_ply(_mesh(colors), tmp_path / "m.ply", binary=False)
    assert path.read_bytes() == _header("ascii", colors) + body.encode("ascii")
    _assert_same_mesh(read_ply(path), colors)


@pytest.mark.parametrize("colors", [True, False])
def test_obj_has_colours_in_zero_one_and_one_based_faces(tmp_path, colors):
    rgb = [" 1.0000 0.0000 0.0000", " 0.0000 0.5020 1.0000", " 0.0275 0.0314 0.0353"] if colors else ["", "", ""]
    text = (f"# zoo3d mesh\nv 0 0 0{rgb[0]}\nv 1.5 -0.25 2.5e-05{rgb[1]}\nv 0.1 1 0.5{rgb[2]}\n"
            "f 1 2 3\nf 3 2 1\n")
    path = write_obj(_mesh(colors), tmp_path / "m.obj")
    assert path.read_text() == text
    _assert_same_mesh(read_obj(path), colors)


@pytest.mark.parametrize("colors", [True, False])
def test_ply_stores_float_and_int_whatever_the_arrays_hold(tmp_path, colors):
    """A mesh made by hand may hold float64 vertices and int32 faces: the file still has the types its header
    declares."""
    mesh = Mesh(VERTICES.astype(np.float64), FACES.astype(np.int32), COLORS.astype(np.int64) if colors else None)
    path = write_ply(mesh, tmp_path / "m.ply")
    assert path.read_bytes() == _header("binary_little_endian", colors) + _binary_body(colors)


def test_obj_from_another_tool_reads_its_vertex_indices(tmp_path):
    """Blank lines, comments, normals and ``v/vt/vn`` faces, as exporters write them."""
    path = tmp_path / "other.obj"
    path.write_text("# made elsewhere\n\nv 0 0 0\nv 1.5 -0.25 2.5e-05\n\nvn 0 0 1\nv 0.1 1 0.5\n"
                    "f 1/1/1 2/2/1 3/3/1\nf 3//1 2//1 1//1\n")
    _assert_same_mesh(read_obj(path), colors=False)


def test_obj_with_colours_on_some_vertices_only_reads_none(tmp_path):
    path = tmp_path / "partial.obj"
    path.write_text("v 0 0 0 1 0 0\nv 1.5 -0.25 2.5e-05\nv 0.1 1 0.5\nf 1 2 3\nf 3 2 1\n")
    _assert_same_mesh(read_obj(path), colors=False)


def test_binary_ply_whose_data_holds_the_header_end_is_read_as_data(tmp_path):
    """The header ends at the first ``end_header`` line; the same bytes may occur again among the floats."""
    vertices = np.frombuffer(b"end_header\n\x00" * 3, dtype="<f4").reshape(3, 3).copy()
    mesh = Mesh(vertices, FACES.copy())
    back = read_ply(write_ply(mesh, tmp_path / "m.ply"))
    assert back.vertices.tobytes() == vertices.tobytes()
    np.testing.assert_array_equal(back.faces, FACES)


def test_a_ply_with_a_quad_is_refused_with_its_name(tmp_path):
    path = write_ply(_mesh(colors=False), tmp_path / "m.ply")
    data = bytearray(path.read_bytes())
    data[len(_header("binary_little_endian", False)) + 3 * 12] = 4  # the first face's corner count
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: only triangle faces are supported$"):
        read_ply(path)


@pytest.mark.parametrize("suffix", ["ply", "obj"])
def test_a_mesh_under_a_file_is_refused_as_a_mesh(tmp_path, suffix):
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / f"m.{suffix}"
    with pytest.raises(WriteError) as err:
        write_mesh(_mesh(colors=True), target)
    assert str(err.value) == f"Cannot write mesh '{target}': '{tmp_path / 'file'}' is a file, not a folder."
