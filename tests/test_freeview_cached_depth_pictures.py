"""``render --cached --depth``'s picture of a cache without a background plane (GRAM's CARLA setting) draws the
surface's distance, as the direct render's does (docs/rendering.md, "Depth pictures"), and its summary line names
no background it does not have. Distances are ray-plane intersections written out here."""

from __future__ import annotations

import pytest
import torch

import zoo3d.freeview.cache as cache_module
from zoo3d.cameras import Camera
from zoo3d.freeview.cache import ManifoldCache, MeshLayer, cache_summary
from zoo3d.freeview.commands import render_cached
from zoo3d.imageio import depth_to_image

pytestmark = pytest.mark.usefixtures("single_thread")

CAMERA = Camera.from_angles(torch.tensor([0.0, 0.05]), 0.0, 1.0, 12.0)
H = W = 6


def _quad(name: str, z: float, alpha: float, opaque: bool = False) -> MeshLayer:
    """The square |x|, |y| <= 0.3 of the plane z, counter-clockwise from +z, one grey texture of ``alpha``."""
    corners = [(-0.3, -0.3), (0.3, -0.3), (0.3, 0.3), (-0.3, 0.3)]
    vertices = torch.tensor([(x, y, z) for x, y in corners])
    uvs = torch.tensor([(x / 0.6 + 0.5, 0.5 - y / 0.6) for x, y in corners])
    texture = torch.tensor([0.5, 0.5, 0.5, alpha]).view(4, 1, 1).expand(4, 2, 2).clone()
    return MeshLayer(name, vertices, uvs, torch.tensor([[0, 1, 2], [0, 2, 3]]), texture, opaque)


def _plane_distance(z: float) -> torch.Tensor:
    """(2, 1, H, W) distance along each pixel's ray to the plane z."""
    origins, dirs = CAMERA.rays(H, W)
    return ((z - origins[..., 2]) / dirs[..., 2]).reshape(2, 1, H, W)


def _render(monkeypatch, layers):
    monkeypatch.setattr(cache_module, "cache_instance", lambda *a, **k: ManifoldCache(layers, extent=0.12))
    out, note = render_cached(None, 0, CAMERA, 0.7, (H, W), "torch", depth=True)
    return out, note


def test_a_cache_without_a_background_draws_its_surface_and_the_rest_far(monkeypatch):
    out, note = _render(monkeypatch, [_quad("manifold_00", 0.05, 0.6)])
    torch.testing.assert_close(out.depth, 0.6 * _plane_distance(0.05))  # sum w t: 0.6 t, as the model's render
    torch.testing.assert_close(out.extras["picture_depth"], _plane_distance(0.05))  # the surface, alpha 0.6 >= 0.5
    assert "1 manifold layers, 2 triangles" in note and "background" not in note
    faint, _ = _render(monkeypatch, [_quad("manifold_00", 0.05, 0.3)])  # no surface: all background, drawn black
    assert torch.equal(depth_to_image(faint.extras["picture_depth"]), -torch.ones(2, 1, H, W))


def test_a_cache_with_a_background_keeps_its_depth(monkeypatch):
    layers = [_quad("manifold_00", 0.05, 0.6), _quad("background", -0.12, 1.0, opaque=True)]
    out, note = _render(monkeypatch, layers)
    torch.testing.assert_close(out.depth, 0.6 * _plane_distance(0.05) + 0.4 * _plane_distance(-0.12))
    assert "picture_depth" not in out.extras and "1 manifold layers + background" in note
    assert cache_summary(ManifoldCache(layers, extent=0.12)).startswith("1 manifold layers + background, 4 triangles")
