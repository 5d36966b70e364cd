"""A manifold that no quad of the cache's grid meets holds no triangle, and the glTF file leaves it out (glTF has no
empty primitive): ``zoo3d export``'s line counts such layers as empty instead of claiming every manifold for the file,
and the file, read by hand per the glTF 2.0 spec, holds one mesh node per layer that has triangles. The scene is a
stand-in with a closed form: s = 100 (z - 0.1 x) at levels 6 and 2, which cross the grid, and -900 (z = -9 + 0.1 x),
which lies far behind every ray of the grid."""

from __future__ import annotations

import json
import struct

import torch

from zoo3d.cameras import CameraPrior
from zoo3d.freeview import commands
from zoo3d.freeview.cache import cache_instance, cache_summary
from zoo3d.freeview.protocol import TexturedLayers
from zoo3d.render.texture import TexturedManifolds

#: 25 quads of the 6 x 6 mesh grid, two triangles each, for each plane; the background grid 2 * 37^2
TRIANGLES = 2 * 50 + 2 * 37 ** 2


class StandIn:
    """A generator with the cache protocol and three levels (descending), the last one out of reach."""

    z_dim = 4
    resolution = 12

    def __init__(self, levels=(6.0, 2.0, -900.0)):
        self.device = torch.device("cpu")
        self.camera_prior = CameraPrior()
        self.levels = torch.tensor(levels)

    def represent(self, z, psi):
        return z

    def textured_layers(self, representation, camera, texture_resolution=None):
        g = torch.Generator().manual_seed(0)
        n = len(self.levels)
        maps = torch.rand(1, n, 4, 5, 5, generator=g)
        maps[:, :, 3] = 0.3 + 0.5 * maps[:, :, 3]
        tm = TexturedManifolds(lambda x: 100 * (x[..., 2] - 0.1 * x[..., 0]), maps,
                               torch.rand(1, 3, 4, 4, generator=g), levels=self.levels, extent=0.12)
        return TexturedLayers(tm, grid_resolution=4, num_samples=64)


def _glb(path) -> dict:
    """The JSON chunk, after checking the header's total length and the chunk types by hand."""
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<III", data, 0)
    assert (magic, version, total) == (0x46546C67, 2, len(data))
    length, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A
    return json.loads(data[20:20 + length])


def test_the_unreached_level_has_no_triangles_and_the_others_their_grid():
    cache = cache_instance(StandIn(), 0, psi=0.7)
    faces = [lay.num_faces for lay in cache.layers]
    assert faces == [50, 50, 0, 2 * 37 ** 2]


def test_export_counts_the_empty_layer_and_the_file_holds_a_node_for_each_other(tmp_path):
    line = commands.export_gltf(StandIn(), "stand_in", 0, 0.7, tmp_path / "s.glb")
    assert line == (f"Wrote 3 manifold layers (1 of them empty) + background, {TRIANGLES} triangles, textures 4x4, 7x7 "
                    f"(seed 0) to {tmp_path / 's.glb'}.")
    doc = _glb(tmp_path / "s.glb")
    meshes = [node for node in doc["nodes"] if "mesh" in node]
    assert [node["extras"]["zoo3d"]["layer"] for node in meshes] == [3, 1, 0]  # back to front, layer 2 left out
    assert len(doc["meshes"]) == len(meshes) == 3
    triangles = sum(doc["accessors"][p["indices"]]["count"] // 3 for m in doc["meshes"] for p in m["primitives"])
    assert triangles == TRIANGLES


def test_a_cache_without_empty_layers_says_nothing_of_them():
    cache = cache_instance(StandIn(levels=(6.0, 2.0)), 0, psi=0.7)
    assert cache_summary(cache) == f"2 manifold layers + background, {TRIANGLES} triangles, textures 4x4, 7x7"
