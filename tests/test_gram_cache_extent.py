"""GRAM's free-view cache bakes its radiance on a square of half-width 1.5 x fov / 100 (GRAM-HD's gridding rule for
the prior's fov, widened for yawed views): 0.18 at FFHQ's 12 degrees, as before, and 0.45 at the CARLA preset's 30
degrees, where a fixed 0.18 cut off what the frontal camera sees beyond |x| = 0.18 (out to 0.33 at its rays' far end)."""

from __future__ import annotations

import math

import pytest
import torch

from test_gram_generator_glue import tiny
from zoo3d.cameras import Camera, CameraPrior
from zoo3d.render.gridding import grid_manifolds
from zoo3d_gram.generator import GramGenerator


def _with_prior(fov: float, near: float, far: float) -> GramGenerator:
    gen = tiny()
    cfg = gen.config.model_copy(deep=True)
    cfg.render.near, cfg.render.far = near, far
    return GramGenerator(cfg, CameraPrior(fov=fov))


@pytest.mark.parametrize("fov, near, far, extent", [(12.0, 0.88, 1.12, 0.18), (30.0, 0.7, 1.3, 0.45)])
def test_the_cache_square_holds_what_the_frontal_camera_sees_out_to_the_far_end(fov, near, far, extent):
    """The farthest |x| of the frontal camera's rays (16 pixel centres a side) at ``far`` is that of the edge pixel
    next to the middle row, along (a, b, 1) / |.| with a = tan(fov / 2) 15 / 16 and b = tan(fov / 2) / 16:
    far a / sqrt(1 + a^2 + b^2), 0.110 at FFHQ's settings and 0.327 at CARLA's."""
    gen = _with_prior(fov, near, far)
    assert gen.cache_extent == pytest.approx(extent)
    origins, dirs = Camera.from_angles(0.0, 0.0, fov=fov).rays(16, 16)
    reach = (origins + far * dirs)[..., :2].abs().max().item()
    a, b = (math.tan(math.radians(fov / 2)) * k / 16 for k in (15, 1))
    assert reach == pytest.approx(far * a / math.sqrt(1 + a * a + b * b), rel=1e-5)
    assert reach < gen.cache_extent


def test_the_baked_maps_cover_the_cache_square():
    """textured_layers grids the square it names: its maps hold the radiance at the grid points of +-0.45 (seen from
    the camera centre), and the TexturedManifolds it hands on reads them over that extent."""
    gen = _with_prior(30.0, 0.7, 1.3)
    rep = gen.represent(torch.randn(1, 8))
    cam = Camera.from_angles(0.0, 0.0, fov=30.0)
    rc, R = gen.config.render, 4
    with torch.no_grad():
        layers = gen.textured_layers(rep, cam, texture_resolution=R)
        pts, _ = grid_manifolds(rep, R, 0.45, rc.near, rc.far, rc.num_samples)
        flat = pts.reshape(1, -1, 3)
        q = rep.query(flat, torch.nn.functional.normalize(flat - cam.cam2world[0, :3, 3], dim=-1))
    assert layers.textured.extent == pytest.approx(0.45)
    assert pts[..., 0].amin().item() == pytest.approx(-0.45) and pts[..., 0].amax().item() == pytest.approx(0.45)
    maps = layers.textured.maps[0, :, :3].permute(0, 2, 3, 1)
    torch.testing.assert_close(maps, q.rgb.reshape(maps.shape))
