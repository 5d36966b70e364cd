"""The free-view cache of scenes whose meshes are known in closed form: tilted planes and the background grid.

s(x) = 100 (z - 0.1 x) has the level L on the plane z = L / 100 + 0.1 x, which the orthographic rays along -z
find exactly (s is linear along them). A bump of +1000 around one grid point makes that point miss every level:
the four quads that use it are left out. Vertices, UVs (texel k of an R-texel side, padded by one texel at each
end, has its centre at (k + 1.5) / (R + 2); rows counted from the top, y = +extent) and textures are checked
against these forms written out, faces against the grid's quads, counter-clockwise seen from +z.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.errors import UserError
from zoo3d.freeview.cache import (ManifoldCache, background_layer, build_cache, cache_instance, cache_summary,
                                  TRANSPARENT_ALPHA)
from zoo3d.freeview.protocol import SupportsManifoldCache, TexturedLayers
from zoo3d.render.texture import TexturedManifolds
from zoo3d.train.sampling import seed_latents

E = 0.12  # extent of the maps
G = 4  # mesh grid: G x G points over [-E, E] and one ring outside: 6 x 6 points, 0.08 apart, from -0.2 to 0.2
STEP = 2 * E / (G - 1)
HOLE = (2, 3)  # grid column j (x = -0.04) and row i (y = +0.04) of the point that misses every level
LEVELS = (6.0, 2.0)


def grid_x(k):
    return -E - STEP + STEP * k


class TiltedPlanes:
    def __init__(self, holes=(HOLE,)):
        self.holes = holes

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        s = 100 * (x[..., 2] - 0.1 * x[..., 0])
        for j, i in self.holes:
            near = ((x[..., 0] - grid_x(j)).abs() < 0.01) & ((x[..., 1] - grid_x(i)).abs() < 0.01)
            s = s + 1000 * near
        return s


def plane_scene(R: int = 5, alpha=None, holes=(HOLE,), align_corners: bool = True, filter: str = "bilinear",
                batch: int = 1, background: bool = True) -> TexturedManifolds:
    g = torch.Generator().manual_seed(R)
    maps = torch.rand(batch, len(LEVELS), 4, R, R, generator=g)
    maps[:, :, 3] = 0.2 + 0.6 * maps[:, :, 3] if alpha is None else alpha
    bg = torch.rand(batch, 3, 4, 4, generator=g) if background else None
    return TexturedManifolds(TiltedPlanes(holes), maps, bg, levels=torch.tensor(LEVELS), extent=E,
                             background_z=-0.12, align_corners=align_corners, filter=filter)


def layers_of(tm: TexturedManifolds, **kw) -> TexturedLayers:
    return TexturedLayers(tm, grid_resolution=G, near=0.88, far=1.12, num_samples=64, **kw)


def grid_index(values: torch.Tensor) -> np.ndarray:
    """World x or y of mesh-grid points -> their column or row index (asserting they are grid points)."""
    k = (values.double().numpy() + E + STEP) / STEP
    assert np.abs(k - np.rint(k)).max() < 1e-4
    return np.rint(k).astype(int)


def cyclic(tri) -> tuple:
    """A triangle's corners rotated to start at the smallest: the same winding, one spelling."""
    k = tri.index(min(tri))
    return tuple(tri[k:] + tri[:k])


def expected_triangles(points: int, holes=(HOLE,)) -> set:
    """(a, b, c), (a, c, d) of every quad of a points x points grid none of whose corners is a hole; corners as
    (column, row)."""
    out = set()
    for i in range(points - 1):
        for j in range(points - 1):
            a, b, c, d = (j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)
            if not {a, b, c, d} & set(holes):
                out |= {cyclic([a, b, c]), cyclic([a, c, d])}
    return out


@pytest.fixture  # function-scoped, so a mutation tool sees every test that builds the cache
def planes():
    tm = plane_scene()
    return tm, build_cache(layers_of(tm, backdrop=(1, 1, 1)))


def test_manifold_vertices_are_the_grid_points_on_their_planes_except_the_hole(planes):
    _, cache = planes
    assert [lay.name for lay in cache.layers] == ["manifold_00", "manifold_01", "background"]
    assert [lay.opaque for lay in cache.layers] == [False, False, True]
    for level, lay in zip(LEVELS, cache.layers):
        v = lay.vertices
        assert v.dtype == torch.float32 and v.shape == (6 * 6 - 1, 3)  # every grid point but the hole
        cols, rows = grid_index(v[:, 0]), grid_index(v[:, 1])
        assert sorted(zip(cols, rows)) == sorted((j, i) for i in range(6) for j in range(6) if (j, i) != HOLE)
        assert torch.allclose(v[:, 2], level / 100 + 0.1 * v[:, 0], atol=1e-6)  # on the plane


@pytest.mark.parametrize("align_corners", [True, False])
def test_vertex_uvs_are_the_texel_coordinates_of_their_xy_in_the_padded_flipped_texture(align_corners):
    R = 5
    cache = build_cache(layers_of(plane_scene(R, align_corners=align_corners)))
    for lay in cache.layers[:-1]:
        x, y = lay.vertices[:, 0].double(), lay.vertices[:, 1].double()
        if align_corners:  # texel k's centre at x = -E + 2 E k / (R - 1); texel k of the map is texel k + 1 stored
            kx, ky = (x + E) / (2 * E) * (R - 1), (y + E) / (2 * E) * (R - 1)
            u, v = (kx + 1.5) / (R + 2), (R - ky + 0.5) / (R + 2)  # stored row R - k: flipped, row 0 at the top
        else:  # the map's outer texel edges at -E and E
            u, v = ((x + E) / (2 * E) * R + 1) / (R + 2), 1 - ((y + E) / (2 * E) * R + 1) / (R + 2)
        assert torch.allclose(lay.uvs.double(), torch.stack([u, v], -1), atol=1e-6)
        # the ring of vertices outside the square reads the transparent ring (u, v outside the map's texels)
        outside = (x.abs() > E + 1e-4) | (y.abs() > E + 1e-4)
        assert outside.sum() == 6 * 6 - 4 * 4
        edge = 1.5 / (R + 2) if align_corners else 1 / (R + 2)
        uv = lay.uvs[outside]
        assert bool(((uv < edge - 1e-4) | (uv > 1 - edge + 1e-4)).any(-1).all())
    # the background follows the same flag: its mirrored UVs reach the texture's edges (0, 1) or corner centres
    bg = cache.layers[-1].uvs
    low = 0.5 / 4 if align_corners else 0.0  # a 4 x 4 background map
    assert abs(float(bg.min()) - low) < 1e-6 and abs(float(bg.max()) - (1 - low)) < 1e-6


def test_stored_textures_are_the_maps_flipped_inside_a_transparent_ring(planes):
    tm, cache = planes
    R = tm.maps.shape[-1]
    for n, lay in enumerate(cache.layers[:-1]):
        assert lay.texture.shape == (4, R + 2, R + 2)
        ring = torch.ones(R + 2, R + 2, dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        assert torch.all(lay.texture[:, ring] == 0)
        for k in range(R):  # map row k (y = -E + 2 E k / (R - 1)) is stored as row R - k
            assert torch.equal(lay.texture[:, R - k, 1:-1], tm.maps[0, n, :4, k, :])
    bg = cache.layers[-1]
    Rb = tm.background_map.shape[-1]
    assert bg.texture.shape == (4, Rb, Rb) and torch.all(bg.texture[3] == 1)
    for k in range(Rb):
        assert torch.equal(bg.texture[:3, Rb - 1 - k], tm.background_map[0, :, k])


def test_two_counter_clockwise_triangles_per_quad_with_four_valid_corners(planes):
    _, cache = planes
    for lay in cache.layers[:-1]:
        assert lay.faces.dtype == torch.int64 and lay.faces.shape == (2 * (25 - 4), 3)
        corners = [(int(c), int(r)) for c, r in zip(grid_index(lay.vertices[:, 0]), grid_index(lay.vertices[:, 1]))]
        found = [cyclic([corners[int(k)] for k in face]) for face in lay.faces]
        assert len(set(found)) == len(found) and set(found) == expected_triangles(6)
        tri = lay.vertices[lay.faces].double()
        normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        assert torch.allclose(normal[:, 2], torch.full_like(normal[:, 2], STEP ** 2), rtol=1e-4)  # +z, area 1/2
        assert lay.faces.unique().numel() == lay.vertices.shape[0]  # no vertex without a face


def test_faces_are_sorted_nearest_first_by_descending_height(planes):
    _, cache = planes
    for lay in cache.layers[:-1]:
        height = lay.vertices[lay.faces][..., 2].mean(-1)
        assert torch.all(height[1:] <= height[:-1]) and height[0] > height[-1] + 0.03  # the tilt: 0.1 x over 0.4


def test_a_quad_with_one_invalid_corner_gives_no_triangles():
    for hole in [(0, 0), (5, 2), (3, 5)]:  # a corner of the ring, its right edge, its top edge
        cache = build_cache(layers_of(plane_scene(holes=(hole,))))
        lay = cache.layers[0]
        corners = [(int(c), int(r)) for c, r in zip(grid_index(lay.vertices[:, 0]), grid_index(lay.vertices[:, 1]))]
        assert hole not in corners
        assert {cyclic([corners[int(k)] for k in face]) for face in lay.faces} == expected_triangles(6, (hole,))


def test_quads_whose_texels_are_all_transparent_are_left_out():
    at = build_cache(layers_of(plane_scene(alpha=TRANSPARENT_ALPHA, background=False)))
    assert [lay.num_faces for lay in at.layers] == [0, 0] and at.num_faces == 0  # at most 1/510: not drawn
    above = build_cache(layers_of(plane_scene(alpha=1.2 * TRANSPARENT_ALPHA, background=False)))
    assert [lay.num_faces for lay in above.layers] == [42, 42]


def quads_of(lay, points: int, first: float, step: float) -> set:
    """(column, row) of the lower-left corner of every quad with a face."""
    xy = lay.vertices[lay.faces][..., :2].min(1).values.double().numpy()
    k = (xy - first) / step
    assert np.abs(k - np.rint(k)).max() < 1e-3
    return {tuple(q) for q in np.rint(k).astype(int).tolist()}


@pytest.mark.parametrize("R, grid", [(17, 17), (33, 5)])  # quads one texel wide, quads eight texels wide
def test_a_quad_whose_bilinear_footprint_reaches_an_opaque_texel_is_kept_and_one_far_from_it_is_not(R, grid):
    tm = plane_scene(R, alpha=0.0, holes=(), background=False)
    row, col = R // 2, R // 2 + R // 4  # one opaque texel, at x = E / 2, y = 0
    tm.maps[0, :, 3, row, col] = 1.0
    cache = build_cache(TexturedLayers(tm, grid_resolution=grid, num_samples=64))
    step, first = 2 * E / (grid - 1), -E - 2 * E / (grid - 1)
    tx, ty = -E + 2 * E * col / (R - 1), -E + 2 * E * row / (R - 1)
    spacing = 2 * E / (R - 1)
    kept = quads_of(cache.layers[0], grid + 2, first, step)
    assert kept and cache.layers[1].num_faces == len(kept) * 2  # the same texel on both layers
    far_seen = 0
    for i in range(grid + 1):
        for j in range(grid + 1):
            x0, y0 = first + j * step, first + i * step
            # a bilinear read at (x, y) uses the texel when |x - tx| and |y - ty| are under one texel spacing
            dx, dy = max(x0 - tx, 0, tx - x0 - step), max(y0 - ty, 0, ty - y0 - step)
            if max(dx, dy) < spacing:
                assert (j, i) in kept
            if max(dx, dy) > step + 4 * spacing:  # the margin (a quad and a few texels) is not unbounded
                assert (j, i) not in kept
                far_seen += 1
    assert far_seen >= 2 * (grid + 1)


def test_the_background_is_a_grid_over_its_texture_coordinates_with_mirrored_uvs():
    Rb = 4
    bg_map = torch.rand(3, Rb, Rb, generator=torch.Generator().manual_seed(1))
    lay = background_layer(bg_map, -0.12)
    outer = 0.5 + np.arange(19) / 24  # 0.5 .. 1.25: six segments per quarter of texture coordinate
    coord = np.concatenate([-outer[::-1], outer])  # the linear centre [-0.5, 0.5] is one segment
    world = np.where(np.abs(coord) <= 0.5, 0.24 * coord, np.sign(coord) * (0.24 * np.tan(np.abs(coord) - 0.5) + 0.12))
    mirrored = np.where(np.abs(coord) > 1, np.sign(coord) * (2 - np.abs(coord)), coord)
    tex = ((mirrored + 1) / 2 * (Rb - 1) + 0.5) / Rb  # texel centres at (k + 0.5) / Rb
    n = coord.size
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # vertex i * n + j: y from row i, x from j
    expected = np.stack([world[cols], world[rows], np.full((n, n), -0.12)], -1).reshape(-1, 3)
    assert lay.name == "background" and lay.opaque
    assert np.allclose(lay.vertices.numpy(), expected, rtol=0, atol=1e-6)
    assert np.allclose(lay.uvs.numpy(), np.stack([tex[cols], 1 - tex[rows]], -1).reshape(-1, 2), rtol=0, atol=1e-6)
    assert world.max() == pytest.approx(0.24 * math.tan(0.75) + 0.12)  # 0.34: past every view of the prior
    corners = [(j, i) for i in range(n) for j in range(n)]
    found = {cyclic([corners[int(k)] for k in face]) for face in lay.faces}
    assert lay.num_faces == 2 * (n - 1) ** 2 and found == expected_triangles(n, ())
    # with the cell-centred flag the UVs put the texture's edges, not its corner texels' centres, at |u| = 1
    cell = background_layer(bg_map, 0.0, align_corners=False, per_quarter=1)
    u = torch.tensor([-1.25, -1.0, -0.75, -0.5, 0.5, 0.75, 1.0, 1.25])
    m = torch.where(u.abs() > 1, torch.sign(u) * (2 - u.abs()), u)
    assert torch.allclose(cell.uvs[:8, 0], (m + 1) / 2, atol=1e-6) and torch.all(cell.vertices[:, 2] == 0)
    assert torch.allclose(cell.uvs[::8, 1], 1 - (m + 1) / 2, atol=1e-6)  # rows: v from the top
    # a background map with feature channels after its rgb: the texture is the rgb and an opaque alpha
    featured = background_layer(torch.cat([bg_map, torch.full((2, Rb, Rb), 0.5)]), -0.12)
    assert torch.equal(featured.texture, torch.cat([bg_map.flip(-2), torch.ones(1, Rb, Rb)]))


def test_the_cache_carries_the_extent_backdrop_map_side_and_what_it_was_given():
    cam = Camera.from_angles(0.1, 0.0, 1.0, 12.0)
    tm = plane_scene(5)
    cache = build_cache(layers_of(tm), cam, meta={"seed": 3})
    assert cache.extent == E and cache.backdrop == (0.0, 0.0, 0.0) and cache.map_resolution == 5
    assert cache.bake_camera is cam and cache.meta == {"seed": 3}
    assert build_cache(layers_of(tm, backdrop=(1, 0.5, 0))).backdrop == (1.0, 0.5, 0.0)
    assert build_cache(layers_of(tm)).meta == {}
    no_plane = build_cache(layers_of(plane_scene(5, background=False)))
    assert [lay.name for lay in no_plane.layers] == ["manifold_00", "manifold_01"]
    # maps read bicubically are stored four times as dense, but the side the model made is what is recorded
    bicubic = build_cache(layers_of(plane_scene(5, filter="bicubic")))
    assert bicubic.map_resolution == 5 and bicubic.layers[0].texture.shape[-1] == (5 - 1) * 4 + 1 + 2
    # feature channels after rgba stay out of the stored textures
    featured = plane_scene(5)
    featured.maps = torch.cat([featured.maps, torch.full_like(featured.maps[:, :, :2], 0.5)], 2)
    shapes = [tuple(lay.texture.shape) for lay in build_cache(layers_of(featured)).layers]
    assert shapes == [(4, 7, 7), (4, 7, 7), (4, 4, 4)]
    with pytest.raises(ValueError, match="build_cache takes one instance; the maps hold 3$"):
        build_cache(layers_of(plane_scene(5, batch=3)))  # three instances of two manifolds


def test_a_cache_moves_whole_and_sums_its_faces(planes):
    _, cache = planes
    assert cache.num_faces == sum(lay.faces.shape[0] for lay in cache.layers) == 42 + 42 + 2 * 37 ** 2
    cache.bake_camera = Camera.from_angles(0.1, 0.0, 1.0, 12.0)
    moved = cache.to(torch.device("cpu"))
    assert moved.bake_camera is cache.bake_camera
    assert moved is not cache and moved.device == torch.device("cpu")
    assert (moved.extent, moved.backdrop, moved.map_resolution, moved.meta) == (E, (1.0, 1.0, 1.0), 5, {})
    for a, b in zip(moved.layers, cache.layers):
        assert a.name == b.name and a.opaque == b.opaque
        for x, y in ((a.vertices, b.vertices), (a.uvs, b.uvs), (a.faces, b.faces), (a.texture, b.texture)):
            assert torch.equal(x, y)
    meta = {"seed": 1}
    assert ManifoldCache(cache.layers, E, meta=meta).to("cpu").meta is not meta  # its own copy
    assert cache_summary(cache) == f"2 manifold layers + background, {cache.num_faces} triangles, textures 4x4, 7x7"


class StandIn:
    """A generator with the cache protocol that records what it is asked for."""

    z_dim = 5

    def __init__(self, dtype=None):
        self.device = torch.device("cpu")
        self.camera_prior = CameraPrior(yaw_mean=0.2, pitch_mean=0.1, radius=1.1, fov=14.0)
        self.calls = []
        if dtype is not None:
            self.dtype = dtype

    def represent(self, z, psi):
        self.calls.append(("represent", z, psi))
        return "rep"

    def textured_layers(self, representation, camera, texture_resolution=None):
        self.calls.append(("textured_layers", representation, camera, texture_resolution))
        return layers_of(plane_scene(5))


def test_cache_instance_caches_the_seeds_latent_for_the_priors_centre_view():
    gen = StandIn()
    assert isinstance(gen, SupportsManifoldCache)
    cache = cache_instance(gen, 7, psi=0.4, texture_resolution=24)
    (_, z, psi), (_, rep, camera, res) = gen.calls
    assert torch.equal(z, torch.randn(1, 5, generator=torch.Generator().manual_seed(7))) and psi == 0.4
    assert rep == "rep" and res == 24
    assert torch.allclose(camera.cam2world, gen.camera_prior.frontal().cam2world)
    assert cache.bake_camera is camera and cache.num_faces == 42 + 42 + 2 * 37 ** 2
    assert cache.meta == {"seed": 7, "psi": 0.4, "camera_prior": gen.camera_prior.model_dump()}
    assert isinstance(cache.meta["seed"], int) and isinstance(cache.meta["psi"], float)
    other = Camera.from_angles(0.3, 0.0, 1.0, 12.0)
    gen64 = StandIn(torch.float64)
    cache_instance(gen64, 2, camera=other)
    (_, z, psi), (_, _, camera, res) = gen64.calls
    assert z.dtype == torch.float64 and torch.equal(z, seed_latents([2], 5).double())
    assert psi == 0.7 and res is None and torch.equal(camera.cam2world, other.cam2world)


def test_a_generator_without_the_protocol_is_refused_in_one_sentence():
    class Volume:
        pass

    with pytest.raises(UserError) as err:
        cache_instance(Volume(), 0)
    assert str(err.value) == ("Volume cannot be cached as textured layers: it does not implement textured_layers() "
                              "of zoo3d.freeview.SupportsManifoldCache, as the radiance-manifold models gram, gram_hd "
                              "and gram_inverter do (docs/freeview.md; zoo3d render without --cached, and zoo3d "
                              "export --format ply|obj, work for every model).")


def test_a_cache_names_its_model_in_the_file_it_is_written_to_from_python_as_from_the_commands(tmp_path):
    """The model's name goes into a cache's metadata where the cache is made (cache_inversion: the header's;
    cache_instance: the one given), so the documented ``write_gltf(cache_inversion(inverter, inv), path)`` writes it as
    ``zoo3d export`` does, where only the commands added it by hand."""
    from types import SimpleNamespace

    from zoo3d.core.inverter import InversionResult
    from zoo3d.freeview.cache import cache_inversion
    from zoo3d.freeview.gltf import read_glb_json, write_gltf

    result = InversionResult("inverted rep", Camera.from_angles(0.3, 0.0, 1.0, 12.0),
                             extras={"header": {"model": "gram", "image": "face.png"}})
    write_gltf(cache_inversion(SimpleNamespace(generator=StandIn()), result), tmp_path / "face.glb")
    assert read_glb_json((tmp_path / "face.glb").read_bytes())["asset"]["extras"]["zoo3d"]["model"] == "gram"
    assert cache_instance(StandIn(), 3, model="gram_hd").meta["model"] == "gram_hd"
    assert "model" not in cache_instance(StandIn(), 3).meta  # none given: none made up


def test_cache_inversion_bakes_the_representation_for_the_input_view_with_the_generator_that_draws_it():
    """PTI's tuned copy (``result.generator``) before the inverter's own; the input view in the metadata; an inverter
    that names no generator is refused in one sentence."""
    from types import SimpleNamespace

    from zoo3d.core.inverter import InversionResult
    from zoo3d.freeview.cache import cache_inversion

    own, tuned = StandIn(), StandIn()
    cams = Camera.from_angles(torch.tensor([0.3, -0.2]), torch.tensor([-0.1, 0.05]), 1.2, 13.0)
    result = InversionResult("inverted rep", cams, extras={"header": {"model": "stand_in", "image": "face.png"}})
    cache = cache_inversion(SimpleNamespace(generator=own), result, texture_resolution=16)
    (_, rep, camera, res), = own.calls
    assert rep == "inverted rep" and res == 16 and torch.equal(camera.cam2world, cams.cam2world[:1])
    assert cache.meta == {"model": "stand_in", "image": "face.png", "camera_prior": own.camera_prior.model_dump(),
                          "input_view": pytest.approx({"yaw": 0.3, "pitch": -0.1, "radius": 1.2, "fov": 13.0})}
    result.generator = tuned
    cache_inversion(SimpleNamespace(generator=own), result)
    assert len(own.calls) == 1 and tuned.calls[0][1] == "inverted rep"
    result.generator = None
    with pytest.raises(UserError) as err:
        cache_inversion(SimpleNamespace(), result)
    assert str(err.value) == ("The inverter of model 'stand_in' names no generator (its .generator), so the inversion "
                              "cannot be cached as textured layers.")
