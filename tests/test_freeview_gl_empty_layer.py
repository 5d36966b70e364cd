"""A manifold that no quad of the cache's grid meets holds no triangle (`zoo3d export` counts such layers: "23 manifold
layers (4 of them empty)"; a small GRAM-HD run's stage-1 checkpoint had one). The GL rasterizer draws such a cache as
it draws the others: an empty layer adds nothing, so every pixel is GRAM's compositing rule over the layers
that have triangles, written out per pixel (see test_freeview_gl_closed_form.py). It used to stop `zoo3d render
--cached` with moderngl's traceback (a GL buffer cannot be empty)."""

from __future__ import annotations

import torch

from test_freeview_gl_closed_form import BACKDROP, CAMERA, expected, needs_gl, rgba, square
from zoo3d.freeview import gl
from zoo3d.freeview.cache import ManifoldCache, MeshLayer


def empty(name: str) -> MeshLayer:
    """A layer of the cache's shape with no vertex and no triangle (its texture kept, as the cache keeps it)."""
    return MeshLayer(name, torch.zeros(0, 3), torch.zeros(0, 2), torch.zeros(0, 3, dtype=torch.int64),
                     square(name, 0.0, 0.5, (0, 0)).texture)


def test_an_empty_layer_draws_nothing_between_the_layers_that_have_triangles():
    needs_gl()
    layers = [square("manifold_00", 0.1, 0.25, (0, 0)), empty("manifold_01"), square("manifold_02", 0.0, 0.5, (1, 2)),
              empty("manifold_03"), square("background", -0.5, 0.75, (0, 2), opaque=True)]
    r = gl.GLRenderer(ManifoldCache(layers, extent=0.12, backdrop=BACKDROP))
    try:
        rgb, depth, alpha = r.render(CAMERA, 32, 32)
    finally:
        r.release()
    want = expected([(0.1, 0.25, rgba((0, 0))), (0.0, 0.5, rgba((1, 2))), (-0.5, 0.75, rgba((0, 2)))], 32, 32)
    assert (rgb - want[0]).abs().max() < 2e-3
    assert (depth - want[1]).abs().max() < 1e-4 and (alpha - want[2]).abs().max() < 1e-6
