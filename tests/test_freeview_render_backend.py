"""Which rasterizer a cached render uses, and what CachedRenderer makes of each rasterizer's frames.

GL is replaced by a stand-in that records its calls (this runs without an EGL driver); the torch frames are
compared with :func:`zoo3d.freeview.raster.render_torch` called per camera: rgb maps [0, 1] to [-1, 1] (2 c - 1).
"""

from __future__ import annotations

import pytest
import torch

import zoo3d.freeview.gl as gl
from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.freeview.raster import render_torch
from zoo3d.freeview.render import BACKENDS, CachedRenderer, resolve_backend


def quad(name: str, half: float, z: float, rgba, opaque: bool = False, device=None) -> MeshLayer:
    verts = torch.tensor([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]], device=device)
    uvs = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]], device=device)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]], device=device)  # counter-clockwise seen from +z
    texture = torch.tensor(rgba, dtype=torch.float32, device=device)[:, None, None].expand(4, 2, 2).clone()
    texture[0, 0, 0] = 0.9  # not uniform: where the UVs land matters
    return MeshLayer(name, verts, uvs, faces, texture, opaque)


def scene(device=None) -> ManifoldCache:
    """Two semi-transparent squares in front of an opaque one, the near one smaller."""
    return ManifoldCache([quad("manifold_00", 0.05, 0.06, [0.8, 0.1, 0.2, 0.6], device=device),
                          quad("manifold_01", 0.08, 0.0, [0.1, 0.7, 0.3, 0.5], device=device),
                          quad("background", 1.0, -0.12, [0.2, 0.3, 0.9, 1.0], True, device=device)], extent=0.12)


class StandInGL:
    """Records what CachedRenderer asks of the GL renderer and answers with frames made from the call."""

    made: list = []

    def __init__(self, cache):
        self.cache, self.calls, self.released = cache, [], 0
        StandInGL.made.append(self)

    def render(self, camera, H, W, depth):
        k = len(self.calls)
        self.calls.append((camera, H, W, depth))
        c = torch.full((3, H, W), 0.25 * (k + 1))
        return c, (torch.full((1, H, W), 1.5 + k) if depth else None), (torch.full((1, H, W), 0.5) if depth else None)

    def release(self):
        self.released += 1


@pytest.fixture
def with_gl(monkeypatch):
    StandInGL.made = []
    monkeypatch.setattr(gl, "gl_available", lambda: True)
    monkeypatch.setattr(gl, "GLRenderer", StandInGL)


@pytest.fixture
def without_gl(monkeypatch):
    monkeypatch.setattr(gl, "gl_available", lambda: False)
    monkeypatch.setattr(gl, "GLRenderer", None)


def test_auto_picks_gl_for_a_cpu_cache_when_a_context_can_be_made(with_gl):
    assert BACKENDS == ("auto", "gl", "torch")
    assert resolve_backend() == "gl" and resolve_backend("auto", "cpu") == "gl"
    assert resolve_backend("auto", torch.device("cpu")) == "gl" and resolve_backend("gl") == "gl"
    assert resolve_backend("torch") == "torch"
    # a cache on another device stays there under auto: torch on that device, no copies to and from GL
    assert resolve_backend("auto", "cuda") == "torch" and resolve_backend("auto", torch.device("cuda", 0)) == "torch"
    assert resolve_backend("gl", "cuda") == "gl"  # asked for by name


def test_without_gl_auto_falls_back_to_torch_and_gl_by_name_is_refused(without_gl):
    assert resolve_backend() == "torch" and resolve_backend("auto", "cpu") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(UserError) as err:
        resolve_backend("gl")
    assert str(err.value) == ("The GL rasterizer needs moderngl and a headless EGL driver (e.g. Debian's "
                              "libegl-mesa0); neither could be used here: pass --rasterizer torch.")


@pytest.mark.parametrize("gl_there", [True, False])
def test_an_unknown_rasterizer_is_refused_naming_the_choices(monkeypatch, gl_there):
    monkeypatch.setattr(gl, "gl_available", lambda: gl_there)
    for name in ("vulkan", "GL", "Auto", ""):
        with pytest.raises(UserError) as err:
            resolve_backend(name)
        assert str(err.value) == f"Unknown rasterizer '{name}'; choose one of auto, gl, torch."


def test_the_gl_path_draws_each_camera_in_turn_and_maps_rgb_to_minus_one_one(with_gl):
    cache = scene()
    renderer = CachedRenderer(cache)  # auto: the stand-in GL
    (made,) = StandInGL.made
    assert renderer.backend == "gl" and made.cache is cache
    cams = Camera.from_angles([0.0, 0.2, -0.1], 0.05, 1.0, 12.0)
    out = renderer.render(cams, (3, 5))
    assert [c[1:] for c in made.calls] == [(3, 5, True)] * 3
    assert all(torch.equal(c[0].cam2world, cams[i].cam2world) for i, c in enumerate(made.calls))
    for i in range(3):
        assert torch.equal(out.rgb[i], torch.full((3, 3, 5), 0.5 * (i + 1) - 1))
        assert torch.equal(out.depth[i], torch.full((1, 3, 5), 1.5 + i))
        assert torch.equal(out.alpha[i], torch.full((1, 3, 5), 0.5))
    assert out.extras == {"rasterizer": "gl"}
    made.calls.clear()
    flat = renderer.render(cams[:2], 4, depth=False)
    assert [c[1:] for c in made.calls] == [(4, 4, False)] * 2
    assert flat.depth is None and flat.alpha is None and flat.rgb.shape == (2, 3, 4, 4)
    assert torch.equal(flat.rgb[1], torch.zeros(3, 4, 4))  # 2 * 0.5 - 1
    renderer.close()
    assert made.released == 1 and renderer._gl is None
    renderer.close()  # a second close releases nothing twice
    assert made.released == 1


def test_torch_frames_are_render_torch_per_camera_in_the_order_asked(with_gl):
    cache = scene()
    cams = Camera.from_angles([0.0, 0.3], [0.0, -0.1], 1.0, 12.0, resolution=(6, 8))
    for order in ("depth", "layer"):
        renderer = CachedRenderer(cache, "torch", order=order)
        assert renderer.backend == "torch" and not StandInGL.made
        out = renderer.render(cams)  # the cameras' own resolution
        assert out.rgb.shape == (2, 3, 6, 8) and out.extras == {"rasterizer": "torch"}
        for i in range(2):
            c, d, a = render_torch(cache, cams[i], 6, 8, order)
            assert torch.equal(out.rgb[i], c * 2 - 1) and torch.equal(out.depth[i], d) and torch.equal(out.alpha[i], a)
        renderer.close()
    default = CachedRenderer(cache, "torch").render(cams[1], 6)
    assert torch.equal(default.rgb[0], render_torch(cache, cams[1], 6, 6, "depth")[0] * 2 - 1)
    assert torch.equal(CachedRenderer(cache, "torch").render(cams[1], 6, depth=False).rgb, default.rgb)


def test_orders_differ_where_the_cache_order_is_not_the_depth_order(with_gl):
    """The check above has teeth: with the near square listed last, layer order and depth order disagree."""
    cache = scene()
    swapped = ManifoldCache([cache.layers[1], cache.layers[0], cache.layers[2]], cache.extent)
    cam = Camera.from_angles(0.0, 0.0, 1.0, 12.0)
    by_depth = CachedRenderer(swapped, "torch").render(cam, 16).rgb
    by_layer = CachedRenderer(swapped, "torch", order="layer").render(cam, 16).rgb
    assert torch.equal(by_depth, CachedRenderer(cache, "torch").render(cam, 16).rgb)
    assert (by_depth - by_layer).abs().max() > 0.05


def test_a_cache_off_the_cpu_is_rendered_by_torch_under_auto(with_gl):
    meta = scene("meta")  # a device that is not the CPU, without one
    renderer = CachedRenderer(meta)
    assert renderer.backend == "torch" and not StandInGL.made
