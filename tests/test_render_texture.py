"""Texture mode and manifold gridding: texel-centre convention, known textures read back where projection says."""

from __future__ import annotations

import math
import re

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.representation import ManifoldRepresentation
from zoo3d.render import (ManifoldRenderer, TexturedManifolds, background_grid, bg_invmap, bg_map, grid_manifolds,
                          texel_coordinates)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
EXTENT = 0.12
K = 80.0  # slope of s = K z (GRAM-like, so every interval is interpolated)


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(name)


def plane_field(x):
    return K * x[..., 2]


def coord_maps(points: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Maps (B, N, 4, H, W) whose rgb encodes world (x, y) linearly: r = (x/e + 1)/2, g = (y/e + 1)/2."""
    x, y = points[..., 0] / EXTENT, points[..., 1] / EXTENT
    rgb = torch.stack([(x + 1) / 2, (y + 1) / 2, torch.full_like(x, 0.25)], dim=2)
    return torch.cat([rgb, torch.full_like(rgb[:, :, :1], alpha)], dim=2)


def test_bg_map_values_and_inverse():
    u = torch.linspace(-1, 1, 201, dtype=torch.float64)
    x = bg_map(u)
    torch.testing.assert_close(bg_map(torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64)),
                               torch.tensor([0.06, 0.12, 0.24 * math.tan(0.5) + 0.12], dtype=torch.float64))
    assert (x[1:] > x[:-1]).all()  # monotone, so invertible
    torch.testing.assert_close(bg_invmap(x), u, atol=1e-12, rtol=0)
    # centre-dense: a texel covers less world near the centre than at the border
    assert (x[101] - x[100]) < (x[-1] - x[-2])


@pytest.mark.parametrize("device", DEVICES)
def test_gridding_puts_texels_on_the_manifolds(device):
    dev = _device(device)
    planes = torch.tensor([0.05, -0.03], dtype=torch.float64, device=dev)
    geometry = TexturedManifolds(plane_field, torch.zeros(2, 2, 4, 3, 3, dtype=torch.float64, device=dev),
                                 levels=planes * K)
    pts, valid = grid_manifolds(geometry, (5, 7), extent=EXTENT)
    assert pts.shape == (2, 2, 5, 7, 3) and valid.all()
    x, y = texel_coordinates((5, 7), EXTENT, device=dev, dtype=torch.float64)
    torch.testing.assert_close(pts[..., 0], x.expand_as(pts[..., 0]))
    torch.testing.assert_close(pts[..., 1], y.expand_as(pts[..., 1]))
    torch.testing.assert_close(pts[..., 2], planes[None, :, None, None].expand_as(pts[..., 2]), atol=1e-12, rtol=0)
    assert x[0, 0] == -EXTENT and x[0, -1] == EXTENT and y[0, 0] == -EXTENT  # corner-aligned, row 0 is y = -e
    bg = background_grid(5, dtype=torch.float64)
    assert (bg[..., 2] == -0.12).all() and torch.isclose(bg[2, 2, :2], torch.zeros(2, dtype=torch.float64)).all()


@pytest.mark.parametrize("device", DEVICES)
def test_gridded_maps_read_back_exactly_at_texel_centres(device):
    """The round trip grid -> texture -> sample returns each texel's own value (no half-texel shift)."""
    dev = _device(device)
    planes = torch.tensor([0.04, 0.0], dtype=torch.float64, device=dev)
    probe = TexturedManifolds(plane_field, torch.zeros(1, 2, 4, 1, 1, dtype=torch.float64, device=dev),
                              levels=planes * K)
    pts, _ = grid_manifolds(probe, 9, extent=EXTENT)
    g = torch.Generator().manual_seed(1)
    maps = torch.rand(1, 2, 6, 9, 9, generator=g, dtype=torch.float64).to(dev)
    rep = TexturedManifolds(plane_field, maps, levels=planes * K)
    rad = rep.radiance(pts.reshape(1, 2, 81, 3), torch.zeros(1, 81, 3, dtype=torch.float64, device=dev))
    expected = maps.reshape(1, 2, 6, 81).transpose(-1, -2)
    torch.testing.assert_close(rad.rgb, expected[..., :3])
    torch.testing.assert_close(rad.alpha, expected[..., 3:4])
    torch.testing.assert_close(rad.features, expected[..., 4:])


@pytest.mark.parametrize("device", DEVICES)
def test_known_texture_appears_where_the_camera_projects_it(device):
    dev = _device(device)
    level = torch.tensor([0.0], dtype=torch.float64, device=dev)
    cams = Camera.from_angles([0.3, -0.2], [0.1, -0.2], 1.0, 12.0, device=dev, dtype=torch.float64)
    probe = TexturedManifolds(plane_field, torch.zeros(2, 1, 4, 1, 1, dtype=torch.float64, device=dev), levels=level * K)
    texel_points, _ = grid_manifolds(probe, 17, extent=EXTENT)
    maps = coord_maps(texel_points)
    maps = torch.cat([maps, texel_points[..., :2].permute(0, 1, 4, 2, 3) / EXTENT], dim=2)  # + 2 feature channels
    rep = TexturedManifolds(plane_field, maps, levels=level * K, background_z=None)
    H = W = 24
    out = ManifoldRenderer().render(rep, cams, (H, W))
    rgb = (out.rgb + 1) / 2
    # every pixel decodes to the world point where its ray meets the textured plane z = 0
    o, d = cams.rays(H, W)
    hit = o + (-o[..., 2:] / d[..., 2:]) * d
    decoded = torch.stack([rgb[:, 0] * 2 - 1, rgb[:, 1] * 2 - 1], -1).reshape(2, H * W, 2) * EXTENT
    torch.testing.assert_close(decoded, hit[..., :2], atol=1e-9, rtol=0)
    features = out.features.reshape(2, 2, H * W).transpose(1, 2) * EXTENT  # composited with alpha 1
    torch.testing.assert_close(features, hit[..., :2], atol=1e-9, rtol=0)
    # and texel centres project (analytically) to the image positions that show their colour
    uv, _ = cams.project(texel_points.reshape(2, -1, 3))
    grid = (uv * 2 - 1).reshape(2, -1, 1, 2)
    shown = torch.nn.functional.grid_sample(rgb, grid, mode="bilinear", align_corners=False).squeeze(-1)
    inside = ((uv > 2 / W) & (uv < 1 - 2 / W)).all(-1)
    texel_rgb = coord_maps(texel_points)[:, 0, :3].reshape(2, 3, -1)
    assert inside.sum() > 50
    # (1e-4: bilinear resampling of a perspective image; a half-texel slip would be ~3e-2)
    torch.testing.assert_close(shown.transpose(1, 2)[inside], texel_rgb.transpose(1, 2)[inside], atol=1e-4, rtol=0)


def test_background_map_is_read_through_the_inverse_mapping():
    level = torch.tensor([0.0], dtype=torch.float64)
    maps = torch.zeros(1, 1, 4, 4, 4, dtype=torch.float64)  # transparent foreground
    u = torch.linspace(-1, 1, 33, dtype=torch.float64)
    uu, vv = torch.meshgrid(u, u, indexing="xy")
    bg_map_tex = torch.stack([(uu + 1) / 2, (vv + 1) / 2, torch.zeros_like(uu)])[None]  # encodes (u, v) linearly
    rep = TexturedManifolds(plane_field, maps, background_map=bg_map_tex, levels=level * K)
    assert isinstance(rep, ManifoldRepresentation) and rep.background_z == -0.12
    cams = Camera.from_angles([0.35], [0.0], 1.0, 20.0, dtype=torch.float64)
    out = ManifoldRenderer().render(rep, cams, (16, 16))
    o, d = cams.rays(16, 16)
    hit = o + ((-0.12 - o[..., 2:]) / d[..., 2:]) * d
    decoded_u = ((out.rgb[:, 0] + 1) / 2 * 2 - 1).reshape(1, -1)
    u_hit = bg_invmap(hit[..., 0])
    reflected = torch.where(u_hit.abs() > 1, torch.sign(u_hit) * (2 - u_hit.abs()), u_hit)  # reflection padding
    torch.testing.assert_close(decoded_u, reflected, atol=1e-9, rtol=0)
    assert ((u_hit.abs() > 0.5) & (u_hit.abs() < 1)).any() and (u_hit.abs() > 1).any()  # tan part and padding used
    torch.testing.assert_close(out.depth[0, 0].reshape(-1), (hit - o).norm(dim=-1)[0], atol=1e-9, rtol=0)
    assert (out.alpha == 0).all()


def test_textured_hr_render_uses_lr_intersections():
    """GRAM-HD HR rendering: LR intersections, HR texture lookups; matches a full-res render away from the border."""
    level = torch.tensor([0.02], dtype=torch.float64)
    probe = TexturedManifolds(plane_field, torch.zeros(1, 1, 4, 1, 1, dtype=torch.float64), levels=level * K)
    pts, _ = grid_manifolds(probe, 33, extent=EXTENT)
    rep = TexturedManifolds(plane_field, coord_maps(pts), levels=level * K, background_z=None)
    cams = Camera.from_angles([0.2], [0.1], 1.0, 12.0, dtype=torch.float64)
    full = ManifoldRenderer().render(rep, cams, (32, 32))
    hr = ManifoldRenderer().render(rep, cams, (32, 32), intersection_resolution=(8, 8))
    err = (hr.rgb - full.rgb)[..., 2:-2, 2:-2].abs().max()
    assert err < 1e-3


def test_cell_centred_maps_are_read_at_cell_centres():
    """align_corners=False: texel j of W covers [-e + 2e j/W, -e + 2e (j+1)/W] and is read exactly at its centre."""
    W = 6
    maps = torch.zeros(1, 1, 4, W, W, dtype=torch.float64)
    maps[:, :, 0] = torch.arange(W, dtype=torch.float64)  # red = column index
    rep = TexturedManifolds(plane_field, maps, levels=torch.tensor([0.0], dtype=torch.float64), align_corners=False)
    centres = -EXTENT + 2 * EXTENT * (torch.arange(W, dtype=torch.float64) + 0.5) / W
    pts = torch.stack([centres, torch.zeros_like(centres), torch.zeros_like(centres)], -1).reshape(1, 1, W, 3)
    red = rep.radiance(pts, torch.zeros(1, W, 3, dtype=torch.float64)).rgb[0, 0, :, 0]
    torch.testing.assert_close(red, torch.arange(W, dtype=torch.float64))


class Planes:
    """s = K z with levels at the given heights, and no ``batch_size`` attribute (gridding then uses one)."""

    def __init__(self, heights):
        self.levels = torch.tensor(heights, dtype=torch.float64) * K

    scalar = staticmethod(plane_field)


def test_gridding_defaults_cover_grams_square_and_depth_range():
    """Defaults: extent 0.12; z in [1 - 1.12, 1 - 0.88]; one batch element for a geometry without a batch size."""
    pts, valid = grid_manifolds(Planes([0.05, -0.5]), 3)
    assert pts.shape == (1, 2, 3, 3, 3)
    x, y = texel_coordinates(3, 0.12, dtype=torch.float64)
    torch.testing.assert_close(pts[0, 0, ..., 0], x)
    torch.testing.assert_close(pts[0, 0, ..., 1], y)
    assert valid[0, 0].all() and not valid[0, 1].any()  # z = -0.5 lies 1.5 from the origins, beyond far
    _, deeper = grid_manifolds(Planes([0.05, -0.5]), 3, far=1.6)
    assert deeper.all()


def test_integer_levels_are_gridded_in_the_default_float_dtype():
    rep = Planes([0.0, 0.0])
    rep.levels = torch.tensor([4, -2])  # integer levels: the planes z = 4 / K and -2 / K
    pts, valid = grid_manifolds(rep, (2, 3))
    assert pts.dtype == torch.get_default_dtype() and valid.all()
    torch.testing.assert_close(pts[0, :, 0, 0, 2], torch.tensor([4 / K, -2 / K]), atol=1e-6, rtol=0)


def test_gridding_passes_its_sample_count_to_the_intersection():
    """A sphere (curved field): the crossing found depends on the sample spacing, so the count must reach it."""
    from zoo3d.render import intersect_manifolds

    class Sphere:
        levels = torch.tensor([0.1 * K], dtype=torch.float64)

        @staticmethod
        def scalar(x):
            return K * (x - torch.tensor([0.0, 0.0, -0.02], dtype=x.dtype)).norm(dim=-1)

    x, y = texel_coordinates(5, EXTENT, dtype=torch.float64)
    origins = torch.stack([x, y, torch.ones_like(x)], -1).reshape(1, 25, 3)
    dirs = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64).expand(1, 25, 3)
    for n in (8, 64):
        expected, _, _ = intersect_manifolds(Sphere(), origins, dirs, 0.88, 1.12, n)
        pts, _ = grid_manifolds(Sphere(), 5, num_samples=n)
        torch.testing.assert_close(pts.reshape(1, 1, 25, 3), expected, atol=0, rtol=0)
    assert torch.equal(grid_manifolds(Sphere(), 5)[0], pts)  # 64 by default
    assert not torch.equal(grid_manifolds(Sphere(), 5, num_samples=8)[0], pts)


def test_gridding_asks_the_field_for_at_most_a_quarter_million_samples_at_once():
    """The rays are intersected in groups, with the hits of all at once: a 256² bake of GRAM's ffhq256 field took its
    256² x 64 samples in one call (4.3 GB of activations); each ray's hits depend on that ray alone."""
    from zoo3d.render import intersect_manifolds

    calls = []

    class Shells:
        levels = torch.tensor([0.11 * K, 0.1 * K], dtype=torch.float64)

        @staticmethod
        def scalar(x):
            calls.append(x.shape[0] * x.shape[1])
            return K * (x - torch.tensor([0.0, 0.0, -0.02], dtype=x.dtype)).norm(dim=-1)

    with torch.no_grad():  # as zoo3d grids (with grad, the bracketing points are asked for again)
        pts, valid = grid_manifolds(Shells(), (100, 90), num_samples=64)  # 9000 rays: 576,000 samples
    assert max(calls) <= 2**18 and sum(calls) == 9000 * 64 and len(calls) == 3
    calls.clear()
    with torch.no_grad():  # two instances at once: the bound is on the samples of both
        pair, _ = grid_manifolds(Shells(), (100, 90), num_samples=64, batch_size=2)
    assert max(calls) <= 2**18 and sum(calls) == 2 * 9000 * 64 and len(calls) == 5
    assert torch.equal(pair[0], pair[1]) and torch.equal(pair[:1], pts)
    x, y = texel_coordinates((100, 90), EXTENT, dtype=torch.float64)
    origins = torch.stack([x, y, torch.ones_like(x)], -1).reshape(1, 9000, 3)
    dirs = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64).expand(1, 9000, 3)
    with torch.no_grad():
        expected, expected_valid, _ = intersect_manifolds(Shells(), origins, dirs, 0.88, 1.12, 64)
    assert torch.equal(pts.reshape(1, 2, 9000, 3), expected) and torch.equal(valid.reshape(1, 2, 9000), expected_valid)
    assert valid[0, 0].any() and not valid[0, 0].all()  # the shells end inside the square: hits and misses
    on_shell = (pts[valid] - torch.tensor([0.0, 0.0, -0.02], dtype=torch.float64)).norm(dim=-1)
    assert ((on_shell - 0.11).abs() < 1e-3).sum() + ((on_shell - 0.1).abs() < 1e-3).sum() == valid.sum()


def test_background_grid_rows_follow_v_and_columns_follow_u():
    u = torch.linspace(-1, 1, 5, dtype=torch.float64)
    v = torch.linspace(-1, 1, 3, dtype=torch.float64)
    bg = background_grid((3, 5), dtype=torch.float64)
    assert bg.shape == (3, 5, 3)
    outer = 0.24 * math.tan(0.5) + 0.12
    columns = torch.tensor([-outer, -0.12, 0.0, 0.12, outer], dtype=torch.float64)
    torch.testing.assert_close(bg[..., 0], columns.expand(3, 5))
    torch.testing.assert_close(bg[..., 1], torch.tensor([-outer, 0.0, outer], dtype=torch.float64)[:, None].expand(3, 5))
    assert torch.equal(bg[..., 0], bg_map(u).expand(3, 5))
    assert torch.equal(bg[..., 1], bg_map(v)[:, None].expand(3, 5))


def test_geometry_may_be_an_object_with_scalar_and_levels_or_a_callable_with_levels():
    maps = torch.zeros(1, 2, 4, 3, 3, dtype=torch.float64)
    rep = TexturedManifolds(Planes([0.05, -0.03]), maps)
    torch.testing.assert_close(rep.levels, torch.tensor([0.05, -0.03], dtype=torch.float64) * K)
    x = torch.tensor([[[0.01, 0.02, 0.04]]], dtype=torch.float64)
    torch.testing.assert_close(rep.scalar(x), torch.tensor([[0.04 * K]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^TexturedManifolds needs levels \(pass them or a geometry with \.levels\)$"):
        TexturedManifolds(plane_field, maps)


@pytest.mark.parametrize("shape", [(2, 4, 3, 3), (1, 3, 4, 3, 3), (1, 2, 3, 3, 3)])
def test_maps_of_the_wrong_shape_are_refused_with_both_shapes(shape):
    with pytest.raises(ValueError, match=r"maps must be \(B, N=2, C>=4, H, W\); got " + re.escape(str(shape))):
        TexturedManifolds(plane_field, torch.zeros(shape), levels=torch.tensor([1.0, 0.0]))


def test_no_background_plane_without_a_background_map():
    rep = TexturedManifolds(plane_field, torch.zeros(1, 1, 4, 2, 2), levels=torch.tensor([0.0]))
    assert rep.background_z is None


@pytest.mark.parametrize("channels", [4, 5, 7])
def test_float32_maps_read_at_float64_points_give_rgb_alpha_and_only_real_features(channels):
    """Texel centres read back exactly in the maps' dtype; features only when the maps have channels beyond rgba."""
    maps = torch.rand(1, 1, channels, 3, 3, generator=torch.Generator().manual_seed(channels))
    rep = TexturedManifolds(plane_field, maps, levels=torch.tensor([0.0]))
    x, y = texel_coordinates(3, EXTENT, dtype=torch.float64)
    pts = torch.stack([x, y, torch.zeros_like(x)], -1).reshape(1, 1, 9, 3)
    rad = rep.radiance(pts, torch.zeros(1, 9, 3, dtype=torch.float64))
    texels = maps.reshape(1, 1, channels, 9).transpose(-1, -2)
    assert rad.rgb.dtype == torch.float32
    torch.testing.assert_close(rad.rgb, texels[..., :3], atol=1e-6, rtol=0)
    torch.testing.assert_close(rad.alpha, texels[..., 3:4], atol=1e-6, rtol=0)
    if channels == 4:
        assert rad.features is None
    else:
        torch.testing.assert_close(rad.features, texels[..., 4:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels", [3, 4, 5])
def test_background_texels_read_back_with_features_beyond_rgb(channels):
    """Plane points at bg_map of the texel coordinates read the float32 background map's texels exactly."""
    Hb = Wb = 5
    bg = torch.rand(1, channels, Hb, Wb, generator=torch.Generator().manual_seed(channels))
    rep = TexturedManifolds(plane_field, torch.zeros(1, 1, 4, 2, 2), background_map=bg, levels=torch.tensor([0.0]))
    pts = background_grid((Hb, Wb), dtype=torch.float64).reshape(1, Hb * Wb, 3)  # 25 points, more than 3 channels
    rad = rep.background_radiance(pts, torch.zeros_like(pts))
    texels = bg.reshape(1, channels, Hb * Wb).transpose(1, 2)
    assert rad.rgb.dtype == torch.float32
    torch.testing.assert_close(rad.rgb, texels[..., :3], atol=1e-6, rtol=0)
    if channels == 3:
        assert rad.features is None
    else:
        torch.testing.assert_close(rad.features, texels[..., 3:], atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------- filters
def _sine_scene(filter: str, freq: float, side: int = 41, alpha: torch.Tensor | None = None):
    """One plane at z = 0 whose red channel is cos(2 pi freq j) over texel columns j (``freq`` cycles a texel)."""
    x, _ = texel_coordinates(side, EXTENT, dtype=torch.float64)
    cols = (x / EXTENT + 1) / 2 * (side - 1)  # texel column of every texel centre
    red = torch.cos(2 * math.pi * freq * cols)
    a = torch.ones_like(red) if alpha is None else alpha
    maps = torch.stack([red, torch.zeros_like(red), torch.zeros_like(red), a]).reshape(1, 1, 4, side, side)
    return TexturedManifolds(plane_field, maps, levels=torch.tensor([0.0], dtype=torch.float64), filter=filter)


def _read_between_texels(scene: TexturedManifolds, side: int = 41):
    """Radiance half-way between the texel centres of the middle columns (row 20), and those points' columns."""
    cols = torch.arange(10, 30, dtype=torch.float64) + 0.5
    x = (cols / (side - 1) * 2 - 1) * EXTENT
    pts = torch.stack([x, torch.zeros_like(x), torch.zeros_like(x)], dim=-1).reshape(1, 1, -1, 3)
    return scene.radiance(pts, torch.zeros(1, len(cols), 3, dtype=torch.float64)), cols


@pytest.mark.parametrize("freq", [0.2, 0.3])
def test_a_bicubic_read_keeps_more_of_a_fine_pattern_than_a_bilinear_one(freq):
    """Half-way between texels a bilinear read averages two texels, scaling a sinusoid of ``freq`` cycles a texel
    by cos(pi freq) exactly; the bicubic read (Keys, a = -0.75) comes closer to the true value."""
    errors = {}
    for filt in ("bilinear", "bicubic"):
        rad, cols = _read_between_texels(_sine_scene(filt, freq))
        truth = torch.cos(2 * math.pi * freq * cols)
        errors[filt] = (rad.rgb[0, 0, :, 0] - truth).abs().max().item()
        if filt == "bilinear":
            torch.testing.assert_close(rad.rgb[0, 0, :, 0], truth * math.cos(math.pi * freq), atol=1e-9, rtol=0)
    assert errors["bicubic"] < 0.5 * errors["bilinear"], errors


def test_both_filters_read_texel_centres_exactly():
    side = 41
    x, y = texel_coordinates(side, EXTENT, dtype=torch.float64)
    pts = torch.stack([x, y, torch.zeros_like(x)], dim=-1).reshape(1, 1, -1, 3)
    for filt in ("bilinear", "bicubic"):
        scene = _sine_scene(filt, 0.3)
        rad = scene.radiance(pts, torch.zeros(1, side * side, 3, dtype=torch.float64))
        torch.testing.assert_close(rad.rgb[0, 0, :, 0], scene.maps[0, 0, 0].reshape(-1), atol=1e-12, rtol=0)


def test_a_bicubic_read_of_an_alpha_edge_stays_within_zero_and_one():
    """Bicubic weights are negative at the sides, so an opaque-to-clear step overshoots unless alpha is clamped."""
    side = 41
    edge = (torch.arange(side, dtype=torch.float64) >= 20).to(torch.float64).expand(side, side)
    rad, _ = _read_between_texels(_sine_scene("bicubic", 0.0, alpha=edge))
    assert rad.alpha.min() >= 0 and rad.alpha.max() <= 1
    assert 0 < rad.alpha[0, 0, 9].item() < 1  # the texel pair across the edge, still blended


def test_an_unknown_texture_filter_is_refused():
    with pytest.raises(ValueError, match="bilinear, bicubic"):
        _sine_scene("nearest", 0.2)


@pytest.mark.parametrize("align_corners", [True, False])
def test_a_magnified_bicubic_scene_read_bilinearly_follows_the_bicubic_read(align_corners):
    """What the free-view cache rasterizes: maps four times as dense, read bilinearly, close to the bicubic read of
    the original maps (white-noise maps, the hardest case) and far closer than a bilinear read of the original."""
    from zoo3d.render.texture import magnified

    g = torch.Generator().manual_seed(3)
    maps = torch.rand(1, 2, 4, 17, 17, generator=g, dtype=torch.float64)
    bg = torch.rand(1, 3, 17, 17, generator=g, dtype=torch.float64)
    levels = torch.tensor([0.02, 0.0], dtype=torch.float64) * K
    cubic = TexturedManifolds(plane_field, maps, bg, levels=levels, align_corners=align_corners, filter="bicubic")
    linear = TexturedManifolds(plane_field, maps, bg, levels=levels, align_corners=align_corners)
    big = magnified(cubic)
    assert big.filter == "bilinear" and magnified(linear) is linear
    assert big.maps.shape[-1] == (65 if align_corners else 68) and big.background_map.shape[-1] == big.maps.shape[-1]
    if align_corners:  # every fourth texel is an original one
        torch.testing.assert_close(big.maps[..., :3, ::4, ::4], maps[..., :3, :, :], atol=1e-12, rtol=0)
    pts = (torch.rand(1, 2, 500, 3, generator=g, dtype=torch.float64) * 1.6 - 0.8) * EXTENT
    dirs = torch.zeros(1, 500, 3, dtype=torch.float64)
    ref = cubic.radiance(pts, dirs).rgb
    near = (big.radiance(pts, dirs).rgb - ref).abs().mean()
    far = (linear.radiance(pts, dirs).rgb - ref).abs().mean()
    assert near < 0.25 * far, (near.item(), far.item())
    bg_pts = pts[:, 0] * 1.5
    bg_near = (big.background_radiance(bg_pts, dirs).rgb - cubic.background_radiance(bg_pts, dirs).rgb).abs().mean()
    bg_far = (linear.background_radiance(bg_pts, dirs).rgb - cubic.background_radiance(bg_pts, dirs).rgb).abs().mean()
    assert bg_near < 0.25 * bg_far, (bg_near.item(), bg_far.item())


def test_a_bicubic_read_of_a_constant_map_is_that_constant_up_to_the_edge():
    """Taps beyond the square repeat the edge texel: a constant map reads as the constant in the outermost
    texel band too (zeros there made the kernel's negative lobes brighten rgb 0.5 to 0.547 half a texel in)."""
    side = 9
    maps = torch.cat([torch.full((1, 1, 3, side, side), 0.5), torch.ones(1, 1, 1, side, side)], 2).double()
    bg = torch.full((1, 3, side, side), 0.25, dtype=torch.float64)
    scene = TexturedManifolds(plane_field, maps, bg, levels=torch.tensor([0.0], dtype=torch.float64),
                              filter="bicubic")
    u = torch.linspace(-1, 1, 41, dtype=torch.float64) * EXTENT  # up to the edge texels' centres
    x, y = torch.meshgrid(u, u, indexing="xy")
    pts = torch.stack([x, y, torch.zeros_like(x)], -1).reshape(1, 1, -1, 3)
    dirs = torch.zeros(1, pts.shape[2], 3, dtype=torch.float64)
    rad = scene.radiance(pts, dirs)
    torch.testing.assert_close(rad.rgb, torch.full_like(rad.rgb, 0.5), atol=1e-12, rtol=0)
    torch.testing.assert_close(rad.alpha, torch.ones_like(rad.alpha), atol=1e-12, rtol=0)
    outside = scene.radiance(pts * 1.2, dirs)  # beyond the square: nothing
    assert float(outside.alpha[0, 0, :41].abs().max()) == 0.0  # the first row lies wholly outside
    back = scene.background_radiance(pts[:, 0] * 3, dirs)  # far out on the plane, reflected
    torch.testing.assert_close(back.rgb, torch.full_like(back.rgb, 0.25), atol=1e-12, rtol=0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_the_magnified_cache_is_the_bicubic_read_at_its_texels_edges_included(align_corners):
    """At the magnified maps' own texel centres their bilinear read is the texel: it must be the live bicubic
    read there, in the outermost band as inside, for the manifold maps and the background map."""
    from zoo3d.render.gridding import bg_map
    from zoo3d.render.texture import magnified

    g = torch.Generator().manual_seed(5)
    maps = torch.rand(1, 1, 4, 9, 9, generator=g, dtype=torch.float64)
    bg = torch.rand(1, 3, 9, 9, generator=g, dtype=torch.float64)
    cubic = TexturedManifolds(plane_field, maps, bg, levels=torch.tensor([0.0], dtype=torch.float64),
                              align_corners=align_corners, filter="bicubic")
    big = magnified(cubic)
    side = big.maps.shape[-1]
    x, y = texel_coordinates(side, EXTENT, dtype=torch.float64)
    if not align_corners:  # cell-centred: the texel centres sit half a texel inside the square
        x, y = x * (side - 1) / side, y * (side - 1) / side
    pts = torch.stack([x, y, torch.zeros_like(x)], -1).reshape(1, 1, -1, 3)
    dirs = torch.zeros(1, pts.shape[2], 3, dtype=torch.float64)
    live, cached = cubic.radiance(pts, dirs), big.radiance(pts, dirs)
    torch.testing.assert_close(live.rgb, cached.rgb, atol=1e-9, rtol=0)
    plane = bg_map(torch.stack([x, y], -1).reshape(1, -1, 2) / EXTENT)  # the plane points at those map coordinates
    plane = torch.cat([plane, torch.zeros_like(plane[..., :1])], -1)
    torch.testing.assert_close(cubic.background_radiance(plane, dirs).rgb, big.background_radiance(plane, dirs).rgb,
                               atol=1e-9, rtol=0)
