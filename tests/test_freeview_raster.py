"""The torch rasterizer against a per-pixel loop in Python floats, and its composites against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.freeview.raster import composite_hits, rasterize_layers, render_torch
from zoo3d.render.composite import TRANSMITTANCE_EPS

H, W = 9, 13  # not square: rows and columns cannot be swapped unseen
CAMERA = Camera.from_angles(0.15, -0.1, 1.0, 12.0)


def _texture(rgba, side: int = 2) -> torch.Tensor:
    return torch.tensor(rgba, dtype=torch.float32).view(4, 1, 1).expand(4, side, side).clone()


def _layer(name, vertices, faces, uvs=None, texture=None, opaque=False) -> MeshLayer:
    vertices = torch.tensor(vertices, dtype=torch.float32)
    uvs = torch.rand(len(vertices), 2, generator=torch.Generator().manual_seed(0)) if uvs is None else uvs
    texture = _texture([1.0, 1.0, 1.0, 1.0]) if texture is None else texture
    return MeshLayer(name, vertices, uvs, torch.tensor(faces, dtype=torch.int64), texture, opaque)


def _plane_quad(name, z, half=0.2, tilt=(0.0, 0.0), texture=None, opaque=False, x_max=None) -> MeshLayer:
    """The square |x|, |y| <= half (x up to ``x_max``) of the plane z = z + tilt . (x, y), counter-clockwise
    from +z, with uvs affine in (x, y): u = x / 0.1 + 0.5, v = 0.5 - y / 0.1."""
    x1 = half if x_max is None else x_max
    corners = [(-half, -half), (x1, -half), (x1, half), (-half, half)]
    vertices = [(x, y, z + tilt[0] * x + tilt[1] * y) for x, y in corners]
    uvs = torch.tensor([(x / 0.1 + 0.5, 0.5 - y / 0.1) for x, y in corners], dtype=torch.float32)
    return _layer(name, vertices, [[0, 1, 2], [0, 2, 3]], uvs, texture, opaque)


def _edge(a, b, p) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def reference_hits(cache, camera, height, width):
    """Per layer and pixel, in Python floats: the front-facing triangle (clockwise on the y-down pixel grid, every
    corner in front of the camera) nearest to the camera whose closed triangle holds the pixel centre (the later
    one on a tie), its distance and its perspective-correct uv. Also the smallest |barycentric| of a tested pair,
    how close a pixel centre came to an edge."""
    hits, ts, uvs, margin = [], [], [], math.inf
    camera = camera.to(dtype=torch.float64)
    origin = camera.origins[0].tolist()
    for lay in cache.layers:
        img, depth = camera.project(lay.vertices[None].double())
        screen = [(u * width - 0.5, v * height - 0.5) for u, v in img[0].tolist()]
        z, verts, tex = depth[0].tolist(), lay.vertices.tolist(), lay.uvs.tolist()
        hit, t, uv = [False] * (height * width), [math.inf] * (height * width), [[0.0, 0.0]] * (height * width)
        for p in range(height * width):
            centre = (p % width, p // width)
            best = None
            for face in lay.faces.tolist():
                a, b, c = (screen[k] for k in face)
                area = _edge(a, b, c)
                if area >= 0 or min(z[k] for k in face) <= 0:
                    continue
                w = [_edge(b, c, centre) / area, _edge(c, a, centre) / area, _edge(a, b, centre) / area]
                margin = min(margin, *(abs(x) for x in w))
                if min(w) < 0:
                    continue
                inv_z = sum(wk / z[k] for wk, k in zip(w, face))
                if best is None or inv_z >= best[0]:
                    best = (inv_z, face, w)
            if best is not None:
                inv_z, face, w = best
                bary = [wk / z[k] / inv_z for wk, k in zip(w, face)]
                point = [sum(bk * verts[k][d] for bk, k in zip(bary, face)) for d in range(3)]
                hit[p], t[p] = True, math.dist(point, origin)
                uv[p] = [sum(bk * tex[k][d] for bk, k in zip(bary, face)) for d in range(2)]
        hits.append(hit), ts.append(t), uvs.append(uv)
    return torch.tensor(hits), torch.tensor(ts, dtype=torch.float64), torch.tensor(uvs, dtype=torch.float64), margin


def crowded_scene() -> ManifoldCache:
    """Two layers: crossing triangles, one that runs off three sides of the view, one facing away, one with a corner
    behind the camera, one out of view; then a tilted plane with a triangle repeated (a tie) under other uvs."""
    near = _layer("near", [
        (-0.3, -0.2, 0.05), (0.25, -0.15, -0.02), (-0.15, 0.3, 0.03),  # past three sides of the view
        (-0.05, -0.06, 0.08), (0.08, -0.02, -0.06), (-0.02, 0.07, 0.1),  # crosses the first
        (-0.06, 0.0, 0.2), (0.0, 0.08, 0.2), (0.06, 0.0, 0.2),  # clockwise from +z: faces away
        (-0.04, -0.03, 0.15), (0.04, -0.03, 0.15), (0.0, 0.02, 1.6),  # a corner behind the camera
        (0.5, 0.5, 0.0), (0.6, 0.5, 0.0), (0.55, 0.6, 0.0),  # out of view
    ], [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, 14]])
    far = _plane_quad("far", -0.05, tilt=(0.2, -0.1))
    far.uvs = torch.cat([far.uvs, torch.rand(3, 2, generator=torch.Generator().manual_seed(7))])
    far.vertices = torch.cat([far.vertices, far.vertices[[0, 2, 3]]])
    far.faces = torch.cat([far.faces, torch.tensor([[4, 5, 6]])])
    return ManifoldCache([near, far], extent=0.12)


@pytest.mark.parametrize("pair_chunk", [5, 2**20])
def test_hits_are_the_nearest_front_facing_triangle_at_each_pixel_centre(pair_chunk):
    cache = crowded_scene()
    hit, t, uv, margin = reference_hits(cache, CAMERA, H, W)
    assert margin > 1e-4  # no pixel centre so near an edge that float32 could put it on the other side
    assert 20 < hit[0].sum() < H * W and hit[1].all()
    out = rasterize_layers(cache, CAMERA, H, W, pair_chunk=pair_chunk)
    assert torch.equal(out.hit, hit)
    torch.testing.assert_close(out.t, t.float(), rtol=0, atol=2e-6)
    torch.testing.assert_close(out.uv, uv.float(), rtol=0, atol=2e-5)


def _in_float64(cache: ManifoldCache) -> ManifoldCache:
    """The same cache with float64 geometry; textures stay float32, as a cache stores them."""
    for lay in cache.layers:
        lay.vertices, lay.uvs = lay.vertices.double(), lay.uvs.double()
    return cache


def test_a_float64_cache_is_rasterized_in_float64_by_a_float32_camera():
    cache = _in_float64(crowded_scene())
    hit, t, uv, _ = reference_hits(cache, CAMERA, H, W)
    out = rasterize_layers(cache, CAMERA, H, W)
    assert out.t.dtype == out.uv.dtype == torch.float64 and torch.equal(out.hit, hit)
    torch.testing.assert_close(out.t, t, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.uv, uv, rtol=0, atol=1e-12)


def test_hits_of_a_scene_with_nothing_in_view_are_empty():
    back = _layer("back", [(-0.06, 0.0, 0.0), (0.0, 0.08, 0.0), (0.06, 0.0, 0.0)], [[0, 1, 2]])
    out = rasterize_layers(ManifoldCache([back, back], extent=0.12), CAMERA, H, W)
    assert out.hit.dtype == torch.bool and out.hit.shape == (2, H * W) and not out.hit.any()
    assert torch.equal(out.t, torch.full((2, H * W), math.inf)) and torch.equal(out.uv, torch.zeros(2, H * W, 2))


def _plane_hits(camera, height, width, z, tilt=(0.0, 0.0)):
    """Where each pixel's ray meets the plane z = z + tilt . (x, y): (x, y) and the distance, in float64."""
    origins, dirs = (r[0].double() for r in camera.rays(height, width))
    normal = torch.tensor([-tilt[0], -tilt[1], 1.0], dtype=torch.float64)
    dist = (z - origins @ normal) / (dirs @ normal)
    point = origins + dist[:, None] * dirs
    return point[:, 0], point[:, 1], dist


def test_a_linear_attribute_is_interpolated_exactly_and_sampled_bilinearly_clamped_at_the_border():
    """uvs affine in the world across a tilted plane read a texture that ramps with the texel index: red by column,
    green by row, so each pixel's colour is the uv of its ray's hit (perspective-correct), clamped at the texels
    of the border."""
    side = 4
    ramp = torch.arange(side, dtype=torch.float32) / (side - 1)
    texture = torch.stack([ramp.expand(side, side), ramp[:, None].expand(side, side),
                           torch.full((side, side), 0.5), torch.ones(side, side)])
    tilt = (0.3, 0.2)
    plane = _plane_quad("plane", 0.0, tilt=tilt, texture=texture)
    rgb, depth, alpha = render_torch(ManifoldCache([plane], extent=0.12), CAMERA, H, W)
    x, y, dist = _plane_hits(CAMERA, H, W, 0.0, tilt)
    u, v = x / 0.1 + 0.5, 0.5 - y / 0.1
    assert u.min() < 0.5 / side and u.max() > 1 - 0.5 / side  # the border is reached on both sides
    expected = torch.stack([(side * u - 0.5).clamp(0, side - 1) / (side - 1),
                            (side * v - 0.5).clamp(0, side - 1) / (side - 1), torch.full_like(u, 0.5)])
    torch.testing.assert_close(rgb.reshape(3, -1).double(), expected, rtol=0, atol=2e-5)
    torch.testing.assert_close(depth.reshape(-1).double(), dist, rtol=0, atol=2e-6)
    torch.testing.assert_close(alpha, torch.ones(1, H, W), rtol=0, atol=1e-6)


RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _sandwich(with_background: bool = True) -> ManifoldCache:
    """A half plane (x < 0.01, alpha 1/4, green) behind a whole one (alpha 1/2, red), listed in that order, over an
    opaque blue background; textures of three sizes."""
    mid = _plane_quad("mid", -0.02, x_max=0.01, texture=_texture([*GREEN, 0.25], side=3))
    front = _plane_quad("front", 0.05, texture=_texture([*RED, 0.5], side=2))
    background = _plane_quad("background", -0.1, texture=_texture([*BLUE, 1.0], side=5), opaque=True)
    return ManifoldCache([mid, front] + ([background] if with_background else []), extent=0.12)


def _expected(layers, covered):
    """Front-to-back compositing written out: layers [(rgb, alpha, t (P,), foreground)], covered (L, P) bool."""
    colour, depth, alpha = torch.zeros(3, H * W, dtype=torch.float64), torch.zeros(H * W, dtype=torch.float64), 0
    through = torch.ones(H * W, dtype=torch.float64)
    for (rgb, a, t, fg), hit in zip(layers, covered):
        a = a * hit.double()
        w = through * a
        colour += w * torch.tensor(rgb, dtype=torch.float64)[:, None]
        depth += w * torch.where(hit, t, 0.0)
        alpha = alpha + w * fg
        through = through * (1 - a + TRANSMITTANCE_EPS)
    return colour, depth, alpha


@pytest.mark.parametrize("order", ["depth", "layer"])
def test_layers_composite_front_to_back_by_distance_or_in_the_caches_order(order):
    cache = _sandwich()
    x, _, t_mid = _plane_hits(CAMERA, H, W, -0.02)
    t_front, t_bg = _plane_hits(CAMERA, H, W, 0.05)[2], _plane_hits(CAMERA, H, W, -0.1)[2]
    covered_mid = x <= 0.01
    assert 0 < covered_mid.sum() < H * W
    mid, front, bg = (GREEN, 0.25, t_mid, 1), (RED, 0.5, t_front, 1), (BLUE, 1.0, t_bg, 0)
    everywhere = torch.ones(H * W, dtype=torch.bool)
    layers, covered = ([front, mid, bg], [everywhere, covered_mid, everywhere]) if order == "depth" else \
        ([mid, front, bg], [covered_mid, everywhere, everywhere])
    colour, depth, alpha = _expected(layers, covered)
    rgb, d, a = render_torch(cache, CAMERA, H, W, order)
    torch.testing.assert_close(rgb.reshape(3, -1).double(), colour, rtol=0, atol=1e-6)
    torch.testing.assert_close(d.reshape(-1).double(), depth, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.reshape(-1).double(), alpha, rtol=0, atol=1e-6)
    hits = rasterize_layers(cache, CAMERA, H, W)
    for got, want in zip(composite_hits(cache, hits, order, pair_chunk=7), (rgb, d, a)):  # two pixels at a time
        assert torch.equal(got.T.reshape(-1, H, W), want)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_what_the_layers_leave_shows_the_backdrop(dtype, tol):
    cache = _sandwich(with_background=False)
    if dtype == torch.float64:
        cache = _in_float64(cache)
    cache.backdrop = (0.2, 0.4, 0.6)
    x, _, t_mid = _plane_hits(CAMERA, H, W, -0.02)
    t_front = _plane_hits(CAMERA, H, W, 0.05)[2]
    colour, _, alpha = _expected([(RED, 0.5, t_front, 1), (GREEN, 0.25, t_mid, 1)],
                                 [torch.ones(H * W, dtype=torch.bool), x <= 0.01])
    expected = colour + (1 - alpha) * torch.tensor(cache.backdrop, dtype=torch.float64)[:, None]
    rgb, _, a = render_torch(cache, CAMERA, H, W)
    assert rgb.dtype == a.dtype == dtype
    torch.testing.assert_close(rgb.reshape(3, -1).double(), expected, rtol=0, atol=tol)
    torch.testing.assert_close(a.reshape(-1).double(), alpha, rtol=0, atol=tol)


def test_an_unknown_order_is_refused():
    cache = _sandwich()
    with pytest.raises(ValueError, match=r"^order must be 'depth' or 'layer', not 'nearest'$"):
        render_torch(cache, CAMERA, H, W, order="nearest")
