"""The free-view cache on analytic scenes: meshing, UVs, the rasterizers, and agreement with the ManifoldRenderer."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.freeview.cache import MeshLayer, ManifoldCache, build_cache, grid_faces, texture_uv
from zoo3d.freeview.protocol import TexturedLayers
from zoo3d.freeview.raster import rasterize_layers, render_torch
from zoo3d.freeview.render import CachedRenderer
from zoo3d.render.manifold import ManifoldRenderer
from zoo3d.render.texture import TexturedManifolds


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2), clamped to that range as images are saved."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean()
    return float(-10 * torch.log10(mse))


class Shells:
    """s(x) = 100 |x - c| with c = (0, 0, -0.18): concentric spheres, like GRAM's geometric init."""

    centre = torch.tensor([0.0, 0.0, -0.18])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return 100 * (x - self.centre.to(x)).norm(dim=-1)


def shell_scene(resolution: int = 48, seed: int = 0) -> TexturedManifolds:
    """Four spherical shells (radii 0.2 .. 0.26) with smooth random rgba maps and a smooth background map."""
    g = torch.Generator().manual_seed(seed)
    levels = torch.tensor([26.0, 24.0, 22.0, 20.0])

    def smooth(channels: int) -> torch.Tensor:  # (1, channels, R, R) in [0, 1], bicubic from 6 x 6 noise
        noise = torch.rand(1, channels, 6, 6, generator=g)
        return torch.nn.functional.interpolate(noise, size=(resolution, resolution), mode="bicubic",
                                               align_corners=True).clamp(0, 1)

    maps = smooth(16).reshape(1, 4, 4, resolution, resolution)
    maps[:, :, 3] = 0.15 + 0.6 * maps[:, :, 3]  # alpha in [0.15, 0.75]
    background = smooth(3)
    return TexturedManifolds(Shells(), maps, background, levels=levels, extent=0.12, background_z=-0.12)


def _render_reference(tm: TexturedManifolds, camera: Camera, res: int, samples: int = 64) -> torch.Tensor:
    return ManifoldRenderer(num_samples=samples).render(tm, camera, res).rgb


@pytest.fixture(scope="module")
def shells():
    tm = shell_scene()
    cache = build_cache(TexturedLayers(tm, grid_resolution=96, num_samples=64))
    return tm, cache


def test_grid_faces_are_the_valid_quads_counter_clockwise_from_plus_z():
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[0, 0] = False  # kills the one quad that uses vertex (0, 0)
    faces = grid_faces(valid)
    assert faces.shape == (2 * (3 * 4 - 1), 3)
    xs, ys = torch.meshgrid(torch.arange(5.0), torch.arange(4.0), indexing="xy")
    verts = torch.stack([xs, ys, torch.zeros_like(xs)], -1).reshape(-1, 3)
    tri = verts[faces]
    normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert torch.equal(normal[:, 2], torch.ones(faces.shape[0]))  # twice the area 1/2, along +z
    assert not (faces == 0).any()


def test_texture_uv_puts_the_corner_texel_centres_at_half_a_texel():
    c = torch.tensor([-1.0, 0.0, 1.0])
    assert torch.allclose(texture_uv(c, 8), torch.tensor([0.5 / 8, 0.5, 7.5 / 8]))
    assert torch.allclose(texture_uv(c, 8, align_corners=False), torch.tensor([0.0, 0.5, 1.0]))


def test_manifold_vertices_lie_on_their_levels_and_uvs_read_the_map_at_their_xy(shells):
    tm, cache = shells
    assert [lay.name for lay in cache.layers] == ["manifold_00", "manifold_01", "manifold_02", "manifold_03",
                                                  "background"]
    for n, lay in enumerate(cache.layers[:-1]):
        s = Shells()(lay.vertices)
        assert (s - tm.levels[n]).abs().max() < 0.02  # on the level (linear crossing of 64 samples)
        assert lay.vertices[:, 2].min() >= -0.12 - 1e-6  # within the gridded band
        # sampling the stored (flipped) texture at the vertex uv == sampling the map at (x, y) / extent
        stored = torch.nn.functional.grid_sample(lay.texture[None], (lay.uvs * 2 - 1)[None, None],
                                                 align_corners=False)[0, :, 0].T
        points = lay.vertices[None, None].expand(1, len(tm.levels), -1, -1)
        direct = tm.radiance(points, torch.zeros(1, lay.vertices.shape[0], 3))
        assert torch.allclose(stored[:, :3], direct.rgb[0, n], atol=1e-5)
        assert torch.allclose(stored[:, 3:], direct.alpha[0, n], atol=1e-5)
    bg = cache.layers[-1]
    assert bg.opaque and torch.all(bg.texture[3] == 1) and torch.all(bg.vertices[:, 2] == -0.12)
    mirrored = bg.vertices[:, 0] > 0.26  # past the texture's edge (|u| > 1) the uvs come back inside
    assert mirrored.any() and (bg.uvs[mirrored, 0] < 1.0).all()


def test_one_triangle_covers_exactly_the_pixels_whose_centres_are_inside():
    # a right triangle in the plane z = 0 seen by the frontal camera at distance 1
    h = math.tan(math.radians(6))  # half-width of the view at z = 0
    verts = torch.tensor([[-h, h, 0.0], [h, h, 0.0], [-h, -h, 0.0]])  # top-left, top-right, bottom-left: ccw from +z
    layer = MeshLayer("tri", verts, torch.zeros(3, 2), torch.tensor([[0, 2, 1]]), torch.ones(4, 2, 2))
    cache = ManifoldCache([layer], extent=0.12)
    cam = Camera.from_angles(0.0, 0.0, 1.0, 12.0)
    hits = rasterize_layers(cache, cam, 16, 16)
    i, j = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    expected = (i + j) < 15  # pixel centres strictly above the anti-diagonal (the diagonal pixels are on it)
    inside = (i + j) <= 15
    covered = hits.hit[0].reshape(16, 16)
    assert torch.equal(covered & ~inside, torch.zeros_like(covered)) and torch.equal(covered & expected, expected)
    t = hits.t[0].reshape(16, 16)[covered]
    _, dirs = cam.rays(16, 16)
    assert torch.allclose(t, (1.0 / -dirs[0, :, 2]).reshape(16, 16)[covered], atol=1e-5)  # distance to z = 0
    # the same triangle wound the other way faces away from the camera and is culled
    layer.faces = torch.tensor([[0, 1, 2]])
    assert not rasterize_layers(cache, cam, 16, 16).hit.any()


@pytest.mark.parametrize("pair_chunk", [61, 1000])
def test_the_rasterizer_gives_the_same_frame_whatever_its_pair_budget(shells, pair_chunk):
    """Every (triangle, pixel) pair of a frame at once held ~200 bytes each, 40 GB at 2048²; a budget at a time the
    hits and the composite are the same to the bit, and a pixel that two coincident triangles cover still goes to
    the later one when they fall in different chunks."""
    from zoo3d.freeview.raster import composite_hits

    _, cache = shells
    lay = cache.layers[0]
    V = lay.vertices.shape[0]
    twice = MeshLayer(lay.name, torch.cat([lay.vertices, lay.vertices]), torch.cat([lay.uvs, 1 - lay.uvs]),
                      torch.cat([lay.faces, lay.faces + V]), lay.texture)
    scene = ManifoldCache([twice, *cache.layers[1:]], cache.extent)
    cam = Camera.from_angles(0.3, 0.1, 1.0, 12.0)
    whole = rasterize_layers(scene, cam, 20, 24, pair_chunk=2**40)
    parts = rasterize_layers(scene, cam, 20, 24, pair_chunk=pair_chunk)
    assert whole.hit[0].sum() > 100
    for a, b in zip((whole.hit, whole.t, whole.uv), (parts.hit, parts.t, parts.uv)):
        assert torch.equal(a, b)
    alone = rasterize_layers(ManifoldCache([lay], cache.extent), cam, 20, 24)
    assert torch.allclose(parts.uv[0][parts.hit[0]], 1 - alone.uv[0][alone.hit[0]])  # the second copy's uvs
    for a, b in zip(composite_hits(scene, whole), composite_hits(scene, whole, pair_chunk=pair_chunk)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (0.3, 0.1), (-0.4, -0.15)])
def test_cached_render_matches_the_manifold_renderer(shells, yaw, pitch):
    tm, cache = shells
    cam = Camera.from_angles(yaw, pitch, 1.0, 12.0)
    ref = _render_reference(tm, cam, 64)
    out = CachedRenderer(cache, "torch").render(cam, 64)
    assert psnr(out.rgb, ref) > 40
    assert out.depth.shape == (1, 1, 64, 64) and out.alpha.min() > 0  # every pixel sees a shell


def test_a_misplaced_texture_or_layer_order_is_caught(shells):
    """The comparison above has teeth: the same cache with its v flipped, or layers composited back to front
    in reverse, falls well below the bar."""
    tm, cache = shells
    cam = Camera.from_angles(0.2, 0.0, 1.0, 12.0)
    ref = _render_reference(tm, cam, 48)
    flipped = ManifoldCache([MeshLayer(lay.name, lay.vertices, torch.stack([lay.uvs[:, 0], 1 - lay.uvs[:, 1]], -1),
                                       lay.faces, lay.texture, lay.opaque) for lay in cache.layers], cache.extent)
    assert psnr(CachedRenderer(flipped, "torch").render(cam, 48).rgb, ref) < 30
    fg, bg = cache.layers[:-1], cache.layers[-1:]
    reordered = ManifoldCache(list(reversed(fg)) + bg, cache.extent)
    assert psnr(CachedRenderer(reordered, "torch", order="layer").render(cam, 48).rgb, ref) < 30
    # sorting by distance per pixel (the default) recovers the right order whatever the layers' order
    assert psnr(CachedRenderer(reordered, "torch", order="depth").render(cam, 48).rgb, ref) > 40


def test_gl_rasterizer_agrees_with_the_torch_rasterizer(shells):
    from zoo3d.freeview.gl import gl_available

    if not gl_available():
        pytest.skip("no headless GL context (moderngl with an EGL driver such as Debian's libegl-mesa0)")
    _, cache = shells
    renderer = CachedRenderer(cache, "gl")
    try:
        for yaw in (0.0, 0.35):
            cam = Camera.from_angles(yaw, 0.1, 1.0, 12.0)
            gl = renderer.render(cam, 64)
            rgb, depth, alpha = render_torch(cache, cam, 64, 64, order="layer")
            assert gl.extras["rasterizer"] == "gl"
            assert psnr(gl.rgb[0], rgb * 2 - 1) > 50
            assert (gl.depth[0] - depth).abs().median() < 1e-5
            assert (gl.alpha[0] - alpha).abs().mean() < 1e-3
    finally:
        renderer.close()


def test_a_process_with_a_gl_context_can_still_load_pytorchs_compiler():
    """Mesa's llvmpipe and triton each load an LLVM; triton loaded after Mesa's crashed the process."""
    import importlib.util
    import subprocess
    import sys

    from zoo3d.freeview.gl import gl_available

    if importlib.util.find_spec("triton") is None or not gl_available():
        pytest.skip("needs triton and a headless GL context")
    code = "from zoo3d.freeview.gl import gl_available; assert gl_available(); import triton; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
