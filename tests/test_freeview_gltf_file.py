"""The glTF writer read back by hand, per the glTF 2.0 specification (no glTF library in between).

A .glb is a 12-byte header (magic "glTF", version 2, total length) and chunks of (length, type, data), the JSON
chunk first (padded with spaces to 4 bytes), then the BIN chunk (padded with zeros); every accessor reads
``count`` tightly packed elements of its componentType from its bufferView. The cache written here is made by
hand, so every array the file should hold is known; the camera node is checked against the look-at camera of
the prior's centre view written out (eye on the sphere, right horizontal, looking at the origin).
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from zoo3d.errors import UserError
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.fileio import WriteError
from zoo3d.freeview.gltf import _chunk, _quaternion, glb_bytes, gltf_document, read_glb_json, write_gltf

COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}
DTYPES = {5126: np.dtype("<f4"), 5125: np.dtype("<u4")}  # FLOAT, UNSIGNED_INT
PRIOR = {"yaw_mean": 0.4, "pitch_mean": -0.15, "radius": 1.3, "fov": 15.0}


def _layer(name: str, n_side: int, tex_side: int, z: float, seed: int, opaque: bool = False) -> MeshLayer:
    """A flat n_side x n_side vertex grid at height z with random UVs and a texture whose values leave [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.linspace(-0.1, 0.1 + 0.01 * seed, n_side)
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    verts = torch.stack([xx, yy - 0.02 * seed, torch.full_like(xx, z)], -1).reshape(-1, 3)
    faces = [[i * n_side + j, i * n_side + j + 1, (i + 1) * n_side + j + 1]
             for i in range(n_side - 1) for j in range(n_side - 1)]
    texture = torch.rand(4, tex_side, tex_side, generator=g) * 1.6 - 0.3  # some texels below 0 and above 1
    if opaque:
        texture[3] = 1
    return MeshLayer(name, verts, torch.rand(verts.shape[0], 2, generator=g),
                     torch.tensor(faces, dtype=torch.int64), texture, opaque)


def make_cache() -> ManifoldCache:
    """Front to back: two manifolds, an empty one between them (no triangles), then the background."""
    empty = MeshLayer("manifold_01", torch.zeros(0, 3), torch.zeros(0, 2), torch.zeros(0, 3, dtype=torch.int64),
                      torch.zeros(4, 3, 3))
    layers = [_layer("manifold_00", 3, 5, 0.05, 1), empty, _layer("manifold_02", 4, 7, 0.01, 2),
              _layer("background", 2, 3, -0.12, 3, opaque=True)]
    meta = {"seed": 11, "psi": 0.5, "camera_prior": dict(PRIOR), "model": "stand_in"}
    return ManifoldCache(layers, extent=0.12, meta=meta, backdrop=(1.0, 0.5, 0.0))


# function-scoped: each test makes its own file, so a mutation tool sees every test that reaches the writer
@pytest.fixture
def cache():
    return make_cache()


@pytest.fixture
def glb(cache):
    return glb_bytes(cache)


def parse_glb(data: bytes) -> tuple[dict, bytes]:
    """(JSON, BIN chunk data) of GLB bytes, checking the layout the specification requires on the way."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert data[:4] == b"glTF" and magic == 0x46546C67 and version == 2 and length == len(data)
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert data[16:20] == b"JSON" and json_type == 0x4E4F534A and json_length % 4 == 0
    text = data[20:20 + json_length]
    assert text.rstrip(b" ") == text.rstrip() and len(text) - len(text.rstrip(b" ")) < 4  # padded with spaces
    start = 20 + json_length
    bin_length, bin_type = struct.unpack_from("<II", data, start)
    assert data[start + 4:start + 8] == b"BIN\0" and bin_type == 0x004E4942 and bin_length % 4 == 0
    assert start + 8 + bin_length == len(data)  # nothing after the BIN chunk
    doc = json.loads(text.decode("utf-8"))
    binary = data[start + 8:]
    declared = doc["buffers"][0]["byteLength"]
    assert len(binary) - 4 < declared <= len(binary) and set(binary[declared:]) <= {0}  # zero padding only
    assert "uri" not in doc["buffers"][0]  # the GLB-stored buffer
    return doc, binary[:declared]


def read_accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype, width = DTYPES[acc["componentType"]], COMPONENTS[acc["type"]]
    offset = view["byteOffset"] + acc.get("byteOffset", 0)
    assert offset % dtype.itemsize == 0 and view["byteLength"] == acc["count"] * width * dtype.itemsize
    array = np.frombuffer(binary, dtype, acc["count"] * width, offset)
    return array.reshape(acc["count"], width) if width > 1 else array


def read_image(doc: dict, binary: bytes, texture_index: int) -> Image.Image:
    image = doc["images"][doc["textures"][texture_index]["source"]]
    view = doc["bufferViews"][image["bufferView"]]
    assert image["mimeType"] == "image/png" and "target" not in view
    return Image.open(io.BytesIO(binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]))


def rotation_of(q) -> np.ndarray:
    """The rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_the_glb_is_a_header_a_json_chunk_and_a_bin_chunk_with_aligned_views(glb):
    doc, binary = parse_glb(glb)
    assert doc["asset"]["version"] == "2.0" and doc["asset"]["generator"].startswith("zoo3d ")
    ends = []
    for view in doc["bufferViews"]:
        assert view["buffer"] == 0 and view["byteOffset"] % 4 == 0
        assert view["byteOffset"] + view["byteLength"] <= len(binary)
        ends.append((view["byteOffset"], view["byteOffset"] + view["byteLength"]))
    ends.sort()
    assert all(a[1] <= b[0] < a[1] + 4 for a, b in zip(ends, ends[1:]))  # packed, no overlaps, < 4 bytes of gap
    assert ends[0][0] == 0 and ends[-1][1] == len(binary)
    assert read_glb_json(glb) == doc


def test_every_accessor_holds_its_layers_arrays_with_count_type_and_bounds(cache, glb):
    doc, binary = parse_glb(glb)
    layers = {lay.name: lay for lay in cache.layers}
    meshes = [m for m in doc["meshes"]]
    assert [m["name"] for m in meshes] == ["background", "manifold_02", "manifold_00"]  # the empty layer is left out
    for mesh in meshes:
        lay = layers[mesh["name"]]
        (prim,) = mesh["primitives"]
        assert prim["mode"] == 4  # TRIANGLES
        pos_acc, uv_acc = (doc["accessors"][prim["attributes"][k]] for k in ("POSITION", "TEXCOORD_0"))
        idx_acc = doc["accessors"][prim["indices"]]
        assert (pos_acc["type"], uv_acc["type"], idx_acc["type"]) == ("VEC3", "VEC2", "SCALAR")
        assert (pos_acc["componentType"], uv_acc["componentType"], idx_acc["componentType"]) == (5126, 5126, 5125)
        for acc, target in ((pos_acc, 34962), (uv_acc, 34962), (idx_acc, 34963)):
            assert doc["bufferViews"][acc["bufferView"]]["target"] == target
        pos = read_accessor(doc, binary, prim["attributes"]["POSITION"])
        uv = read_accessor(doc, binary, prim["attributes"]["TEXCOORD_0"])
        idx = read_accessor(doc, binary, prim["indices"])
        assert pos_acc["count"] == lay.vertices.shape[0] and idx_acc["count"] == 3 * lay.faces.shape[0]
        assert np.array_equal(pos, lay.vertices.numpy()) and np.array_equal(uv, lay.uvs.numpy())
        assert np.array_equal(idx.reshape(-1, 3), lay.faces.numpy()) and idx.max() < pos_acc["count"]
        # POSITION must carry its bounds (glTF 2.0, 3.6.2.4), exactly the float32 extremes per axis
        assert pos_acc["min"] == [float(v) for v in lay.vertices.numpy().min(0)]
        assert pos_acc["max"] == [float(v) for v in lay.vertices.numpy().max(0)]
        assert pos_acc["min"] != pos_acc["max"]


def test_textures_are_the_layers_pngs_clamped_and_rounded_to_8_bits(cache, glb):
    doc, binary = parse_glb(glb)
    layers = {lay.name: lay for lay in cache.layers}
    assert doc["samplers"] == [{"magFilter": 9729, "minFilter": 9729, "wrapS": 33071, "wrapT": 33071}]
    for mesh in doc["meshes"]:
        lay = layers[mesh["name"]]
        material = doc["materials"][mesh["primitives"][0]["material"]]
        assert material["name"] == lay.name
        assert material["alphaMode"] == ("OPAQUE" if lay.opaque else "BLEND") and material["doubleSided"] is False
        pbr = material["pbrMetallicRoughness"]
        assert pbr["metallicFactor"] == 0.0 and pbr["roughnessFactor"] == 1.0
        assert material["extensions"] == {"KHR_materials_unlit": {}}
        texture = doc["textures"][pbr["baseColorTexture"]["index"]]
        assert texture["sampler"] == 0
        image = read_image(doc, binary, pbr["baseColorTexture"]["index"])
        assert image.mode == ("RGB" if lay.opaque else "RGBA")
        channels = 3 if lay.opaque else 4
        expected = np.rint(np.clip(lay.texture.numpy()[:channels], 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
        assert np.array_equal(np.asarray(image), expected)  # row 0 at the top, as stored
    assert doc["extensionsUsed"] == ["KHR_materials_unlit"] and "extensionsRequired" not in doc


def test_nodes_go_back_to_front_then_the_camera_and_the_asset_carries_the_metadata(cache, glb):
    doc, _ = parse_glb(glb)
    nodes = doc["nodes"]
    assert doc["scene"] == 0 and doc["scenes"][0]["nodes"] == list(range(len(nodes)))
    drawn = nodes[:-1]
    assert [n["name"] for n in drawn] == ["background", "manifold_02", "manifold_00"]
    assert [n["extras"]["zoo3d"] for n in drawn] == [{"draw_order": 0, "layer": 3, "opaque": True},
                                                      {"draw_order": 1, "layer": 2, "opaque": False},
                                                      {"draw_order": 2, "layer": 0, "opaque": False}]
    assert [doc["meshes"][n["mesh"]]["name"] for n in drawn] == [n["name"] for n in drawn]
    meta = doc["asset"]["extras"]["zoo3d"]
    assert meta == {"layers_front_to_back": ["manifold_00", "manifold_01", "manifold_02", "background"],
                    "extent": 0.12, "backdrop": [1.0, 0.5, 0.0], "seed": 11, "psi": 0.5, "model": "stand_in",
                    "camera_prior": PRIOR}


def test_the_camera_node_looks_at_the_origin_from_the_priors_centre_view(glb):
    doc, _ = parse_glb(glb)
    node = doc["nodes"][-1]
    assert node["camera"] == 0 and "mesh" not in node
    (camera,) = doc["cameras"]
    assert camera["type"] == "perspective"
    assert camera["perspective"]["yfov"] == pytest.approx(math.radians(PRIOR["fov"]), rel=1e-12)
    assert camera["perspective"]["aspectRatio"] == 1.0 and 0 < camera["perspective"]["znear"] < 0.5
    assert camera["perspective"]["zfar"] > 2 * PRIOR["radius"]
    yaw, pitch, r = PRIOR["yaw_mean"], PRIOR["pitch_mean"], PRIOR["radius"]
    back = np.array([-math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    assert np.allclose(node["translation"], r * back, rtol=0, atol=1e-6)  # the prior's camera is float32
    right = np.array([math.cos(yaw), 0.0, math.sin(yaw)])  # horizontal: no roll
    up = np.cross(back, right)
    q = np.array(node["rotation"])
    assert abs(np.linalg.norm(q) - 1) < 1e-6
    # a glTF camera looks along its local -Z with +Y up and +X right
    assert np.allclose(rotation_of(q), np.stack([right, up, back], 1), rtol=0, atol=2e-6)


@pytest.mark.parametrize("angle", [0.3, 1.5, 2.5, 3.1])
@pytest.mark.parametrize("axis", [(1, 2, 3), (-2, 1, 0.5), (0.3, -1, -2), (0, 0, 1), (1, 0, 0), (0, -1, 0)])
def test_quaternion_of_a_rotation_matrix_rotates_as_the_matrix(axis, angle):
    """Rodrigues' rotation about ``axis`` by ``angle`` (under pi) back through the quaternion's matrix."""
    a = np.array(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    m = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k
    q = _quaternion(m)
    assert q[3] == pytest.approx(math.cos(angle / 2), abs=1e-12)  # w >= 0 for angles under pi
    assert np.allclose(q[:3], math.sin(angle / 2) * a, rtol=0, atol=1e-6)
    assert np.allclose(rotation_of(q), m, rtol=0, atol=1e-6)


def test_the_gltf_file_holds_the_same_document_with_its_buffer_as_a_data_uri(cache, glb, tmp_path):
    path = write_gltf(cache, tmp_path / "scene.gltf")
    assert path == tmp_path / "scene.gltf"
    doc = json.loads(path.read_text())
    uri = doc["buffers"][0].pop("uri")
    prefix = "data:application/octet-stream;base64,"
    assert uri.startswith(prefix)
    glb_doc, binary = parse_glb(glb)
    assert doc == glb_doc and base64.b64decode(uri[len(prefix):]) == binary
    assert write_gltf(cache, tmp_path / "scene.GLB").read_bytes() == glb  # the suffix in any case
    assert gltf_document(cache)[1] == binary


def test_a_name_that_is_neither_glb_nor_gltf_and_a_cache_without_triangles_are_refused(cache, tmp_path):
    with pytest.raises(UserError, match=r"Cannot tell the glTF flavour of '.*scene\.obj': name it \.glb or \.gltf\."):
        write_gltf(cache, tmp_path / "scene.obj")
    assert not (tmp_path / "scene.obj").exists()
    (tmp_path / "afile").write_text("")
    with pytest.raises(WriteError) as err:
        write_gltf(cache, tmp_path / "afile" / "scene.glb")
    assert str(err.value) == (f"Cannot write glTF file '{tmp_path / 'afile' / 'scene.glb'}': "
                              f"'{tmp_path / 'afile'}' is a file, not a folder.")
    empty = ManifoldCache([cache.layers[1]], extent=0.12)
    with pytest.raises(UserError, match=r"^The cache holds no triangles \(no manifold is hit on its grid\)"):
        gltf_document(empty)


def _glb(json_bytes: bytes, kind: bytes = b"JSON", total: int | None = None, version: int = 2) -> bytes:
    body = struct.pack("<I", len(json_bytes)) + kind + json_bytes
    return b"glTF" + struct.pack("<II", version, 12 + len(body) if total is None else total) + body


@pytest.mark.parametrize("data, reason", [
    (b"glTF" + struct.pack("<II", 2, 12), "is not a binary glTF 2.0 file (.glb)."),  # 12 bytes: no chunk
    (_glb(b'{"asset":{}}', version=1), "is not a binary glTF 2.0 file (.glb)."),
    (b"GLTF" + _glb(b'{"asset":{}}')[4:], "is not a binary glTF 2.0 file (.glb)."),
    (_glb(b'{"asset":{}}', total=100), "is truncated or corrupt: its header says 100 bytes, the file has 32."),
    (_glb(b'{"asset":{}}', total=2**31), "its header says 2,147,483,648 bytes, the file has 32."),  # uint32 sizes
    (_glb(b'{"asset":{}}', kind=b"BIN\0"), "its first chunk is not JSON."),
    (_glb(b'{"asset":{}}')[:12] + struct.pack("<I", 13) + _glb(b'{"asset":{}}')[16:],
     "its first chunk is not JSON."),  # a chunk longer than the file
    (_glb(b'{"asset":{}}')[:12] + struct.pack("<I", 2**31) + _glb(b'{"asset":{}}')[16:],
     "its first chunk is not JSON."),  # ... by 2 GiB: a length is unsigned
    (_glb(b""), "its JSON chunk does not parse."),  # 20 bytes: an empty JSON chunk
    (_glb(b'{"asset":'), "its JSON chunk does not parse."),
    (_glb(b'\xff\xfe{}   '), "its JSON chunk does not parse."),
    (_glb(b'[1, 2, 3]   '), "its JSON chunk is not an object."),
])
def test_bytes_that_are_not_glb_are_refused_naming_the_file_and_why(data, reason):
    with pytest.raises(UserError) as err:
        read_glb_json(data, "scene.glb")
    assert str(err.value).startswith("'scene.glb' ") and str(err.value).endswith(reason)


def test_bytes_given_without_a_path_are_named_as_bytes():
    with pytest.raises(UserError, match=r"^'<bytes>' is not a binary glTF 2\.0 file \(\.glb\)\.$"):
        read_glb_json(b"PK\x03\x04" + bytes(40))


@pytest.mark.parametrize("size", range(9))
def test_a_chunk_is_its_length_and_type_then_its_data_padded_to_four_bytes(size):
    data = bytes(range(1, size + 1))
    chunk = _chunk(0x4E4F534A, data, b" ")
    padded = -(-size // 4) * 4
    assert len(chunk) == 8 + padded and struct.unpack_from("<II", chunk) == (padded, 0x4E4F534A)
    assert chunk[8:8 + size] == data and chunk[8 + size:] == b" " * (padded - size)


def test_the_smallest_glb_with_an_exactly_fitting_chunk_is_read():
    assert read_glb_json(_glb(b"{}  ")) == {}  # 20 bytes of header and chunk header, 4 of JSON
    assert read_glb_json(_glb(b'{"a":1}' + b" ")) == {"a": 1}
