"""The GL rasterizer gives back what it made on the process-wide context.

The headless context is shared by every renderer of the process and moderngl frees nothing by itself, so a
renderer that left an object behind would leak it for the life of the process (a notebook or a viewer open for
hours: each cache's textures, and on llvmpipe a few MB of compiled shaders per renderer). Each test records every
object the real context hands out while renderers are made and used, and checks each one is released: by
``close()``, by dropping the renderer (the one-liner ``CachedRenderer(cache).render(...)`` of docs/freeview.md), and
by a ``with`` block.
"""

from __future__ import annotations

import gc

import pytest
import torch

import zoo3d.freeview.gl as gl
from zoo3d.cameras import Camera
from zoo3d.freeview.cache import ManifoldCache, MeshLayer
from zoo3d.freeview.render import CachedRenderer

MAKERS = ("program", "buffer", "texture", "vertex_array", "renderbuffer", "depth_renderbuffer", "framebuffer")
CAMERA = Camera.from_angles(0.0, 0.0, 1.0, 12.0)


@pytest.fixture
def made(monkeypatch):
    """Every object the shared context makes during the test, in order (skipped without a headless context)."""
    if not gl.gl_available():
        pytest.skip("no headless GL context (moderngl with an EGL driver such as Debian's libegl-mesa0)")
    ctx_class = type(gl._context())
    out = []
    for name in MAKERS:
        original = getattr(ctx_class, name)

        def record(self, *args, _original=original, **kwargs):
            obj = _original(self, *args, **kwargs)
            out.append(obj)
            return obj

        monkeypatch.setattr(ctx_class, name, record)
    return out


def live(objects) -> list:
    import moderngl

    return [obj for obj in objects if not isinstance(obj.mglo, moderngl.InvalidObject)]


def one_square_cache() -> ManifoldCache:
    """A unit square at z = 0 facing a camera on the z axis, over an opaque background square at z = -0.1."""
    verts = torch.tensor([[-0.1, -0.1, 0.0], [0.1, -0.1, 0.0], [0.1, 0.1, 0.0], [-0.1, 0.1, 0.0]])
    uvs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    layers = [MeshLayer("manifold_0", verts, uvs, faces, torch.full((4, 8, 8), 0.5), False),
              MeshLayer("background", verts * 3 - torch.tensor([0.0, 0.0, 0.1]), uvs, faces,
                        torch.ones(4, 8, 8), True)]
    return ManifoldCache(layers, 0.2, CAMERA, {}, (0.0, 0.0, 0.0), 8)


def test_close_releases_every_object_the_renderer_made_programs_included(made):
    renderer = CachedRenderer(one_square_cache(), "gl")
    renderer.render(CAMERA, 12)
    renderer.render(CAMERA, 16, depth=False)  # a second size and the colour-only program's targets
    kinds = {type(obj).__name__ for obj in made}
    assert {"Program", "Buffer", "Texture", "VertexArray", "Renderbuffer", "Framebuffer"} <= kinds
    renderer.close()
    assert live(made) == []


def test_a_renderer_dropped_without_close_releases_what_it_made(made):
    cache = one_square_cache()
    for yaw in (-0.2, 0.0, 0.2):  # the one-liner of docs/freeview.md, in a loop
        out = CachedRenderer(cache, "gl").render(Camera.from_angles(yaw, 0.0, 1.0, 12.0), 12)
        assert out.rgb.shape == (1, 3, 12, 12)
    gc.collect()
    assert made and live(made) == []


def test_a_with_block_closes_the_renderer(made):
    with CachedRenderer(one_square_cache(), "gl") as renderer:
        renderer.render(CAMERA, 12)
        assert live(made)
    assert live(made) == [] and renderer._gl is None


def test_a_renderer_used_at_many_sizes_keeps_the_targets_of_the_last_few(made):
    with CachedRenderer(one_square_cache(), "gl") as renderer:
        first = renderer.render(CAMERA, 12)
        for side in (13, 14, 15, 16, 17, 18):
            renderer.render(CAMERA, side)
            targets = [obj for obj in live(made) if type(obj).__name__ == "Framebuffer"]
            assert len(targets) == 2 * min(gl.TARGETS_KEPT, side - 11)  # a framebuffer with depth, one without
        again = renderer.render(CAMERA, 12)  # a size whose targets went is made again, the same picture
        assert torch.equal(again.rgb, first.rgb) and torch.equal(again.depth, first.depth)
        renderer.render(CAMERA, 12, depth=False)
        count = len(made)
        renderer.render(CAMERA, 12)  # both of side 12 are kept: nothing is made again
        assert len(made) == count
        kept = [obj for obj in live(made) if type(obj).__name__ == "Renderbuffer"]
        assert sorted(rb.size for rb in kept) == [(12, 12)] * 5  # colour, extra and depth; colour and depth
    assert live(made) == []
