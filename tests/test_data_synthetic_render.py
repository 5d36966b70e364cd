"""``render_heads`` wiring against closed forms: a sphere head's colour is the radiance at the analytic hit point and
normal, the background's is its plane's, a non-square image is H rows of W columns, chunking and threads change
nothing, and the ray interval is the hull of the head ellipsoid's and the neck box's."""

import pytest
import torch

import zoo3d.data.synthetic as synthetic
from zoo3d.cameras import Camera
from zoo3d.data.head_model import (BACKGROUND_Z, HEAD_BOUND_ELLIPSOID, NECK_BOUND_BOX, HeadParams, background_radiance,
                                   head_radiance, sample_head_params)
from zoo3d.data.synthetic import render_heads

D = torch.float64


def test_a_sphere_head_render_is_the_radiance_at_the_analytic_hit_and_the_background_plane_elsewhere():
    centre, radius = torch.tensor([0.005, 0.01, -0.01], dtype=D), 0.075
    heads = HeadParams.sphere(radius, centre.tolist(), n=2, dtype=D)
    heads = HeadParams(heads.geometry, heads.skull_centre, heads.parts, torch.tensor([[0.3, 0.5, 0.7], [0.6, 0.4, 0.2]],
                                                                                      dtype=D),
                       heads.noise_freq, heads.noise_phase)
    cams = Camera.from_angles(torch.tensor([0.2, -0.3]), torch.tensor([-0.1, 0.15]), dtype=D)
    h, w = 12, 20  # rows, columns
    out = render_heads(heads, cams, (h, w))
    assert out["rgb"].shape == (2, 3, h, w) and out["depth"].shape == out["mask"].shape == (2, 1, h, w)
    origins, dirs = cams.rays(h, w)
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    oc = origins - centre
    b = (oc * dirs).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - radius ** 2)
    t_hit = -b - disc.clamp_min(0).sqrt()
    t_bg = (origins[:, 2] - BACKGROUND_Z) / -dirs[:, 2]
    bidx = torch.arange(2).repeat_interleave(h * w)
    mask, depth = out["mask"].reshape(-1), out["depth"].reshape(-1)
    rgb = out["rgb"].permute(0, 2, 3, 1).reshape(-1, 3)
    inner, outer = disc > 3e-4, disc < -3e-4  # 2 mm from the outline, past the tracer's tolerance of 1 mm
    assert int(inner.sum()) > 50 and int(outer.sum()) > 50
    assert bool((mask[inner] == 1).all()) and bool((mask[outer] == 0).all())
    hit_points = origins + t_hit[:, None] * dirs
    normals = (hit_points - centre) / radius
    expected = head_radiance(heads, bidx[inner], hit_points[inner], normals[inner]) * 2 - 1
    assert torch.allclose(depth[inner], t_hit[inner], atol=1e-8)
    # the normal comes from where the last Newton step started (~1e-5 off the surface): a small colour error
    assert torch.allclose(rgb[inner], expected, atol=3e-3) and float((rgb[inner] - expected).abs().median()) < 1e-4
    bg_points = origins + t_bg[:, None] * dirs
    assert torch.allclose(bg_points[:, 2], torch.full_like(t_bg, BACKGROUND_Z))
    assert torch.allclose(depth[outer], t_bg[outer], atol=1e-12)
    assert torch.allclose(rgb[outer], background_radiance(heads, bidx[outer], bg_points[outer]) * 2 - 1, atol=1e-12)
    rough = render_heads(heads, cams, (h, w), refine=0)  # the tracer's own hits: stopped just before the surface
    gap = t_hit[inner] - rough["depth"].reshape(-1)[inner]
    assert bool((gap >= 0).all()) and float(gap.max()) < 5e-3 and float(gap.max()) > 1e-4
    # shaded with the surface normal where the trace stopped (not the ray's direction): close to the exact colour
    rough_rgb = rough["rgb"].permute(0, 2, 3, 1).reshape(-1, 3)[inner]
    assert float((rough_rgb - expected).abs().median()) < 0.01
    with pytest.raises(ValueError, match="render_heads got 1 heads for 2 cameras"):
        render_heads(heads[0], cams, 8)


def test_splitting_the_rays_into_chunks_and_the_thread_count_change_nothing(monkeypatch):
    heads = sample_head_params(2, seed=3)
    cams = Camera.from_angles(torch.tensor([0.25, -0.1]), torch.tensor([0.05, -0.05]))
    whole = render_heads(heads, cams, 24)
    threads = []
    field = synthetic._packed_sdf
    monkeypatch.setattr(synthetic, "_packed_sdf",
                        lambda p, rows: threads.append(torch.get_num_threads()) or field(p, rows))
    monkeypatch.setattr(synthetic, "RAYS_PER_CHUNK", 500)  # 1152 rays: two full chunks and a short one
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        chunked = render_heads(heads, cams, 24)
        assert torch.get_num_threads() == 2  # restored after the render
    finally:
        torch.set_num_threads(before)
    assert threads and set(threads) == {1}  # the tracer ran on one thread
    for key in whole:
        assert torch.equal(whole[key], chunked[key]), key


def test_the_ray_interval_is_the_hull_of_the_head_ellipsoid_and_the_neck_box_intervals():
    g = torch.Generator().manual_seed(0)
    n = 2000
    origins = torch.tensor([0.0, 0.0, 1.0], dtype=D) + (torch.rand(n, 3, generator=g, dtype=D) - 0.5) * 0.3
    aim = (torch.rand(n, 3, generator=g, dtype=D) - 0.5) * torch.tensor([0.3, 0.8, 0.3], dtype=D)
    dirs = torch.nn.functional.normalize(aim - origins, dim=-1)
    near, far = synthetic._bounds(origins, dirs)
    # written out: the ellipsoid's roots (scaled unit sphere) and the box's slabs, per ray
    c, r = torch.tensor(HEAD_BOUND_ELLIPSOID[0], dtype=D), torch.tensor(HEAD_BOUND_ELLIPSOID[1], dtype=D)
    o, d = (origins - c) / r, dirs / r
    qa, qb, qc = (d * d).sum(-1), (o * d).sum(-1), (o * o).sum(-1) - 1
    disc = qb * qb - qa * qc
    e_near, e_far = (-qb - disc.clamp_min(0).sqrt()) / qa, (-qb + disc.clamp_min(0).sqrt()) / qa
    lo, hi = torch.tensor(NECK_BOUND_BOX[0], dtype=D), torch.tensor(NECK_BOUND_BOX[1], dtype=D)
    ta, tb = (lo - origins) / dirs, (hi - origins) / dirs
    b_near, b_far = torch.minimum(ta, tb).amax(-1), torch.maximum(ta, tb).amin(-1)
    in_e, in_b = disc > 0, b_near < b_far
    only_e, only_b, both, neither = in_e & ~in_b, in_b & ~in_e, in_e & in_b, ~in_e & ~in_b
    for group in (only_e, only_b, both, neither):
        assert int(group.sum()) > 20
    assert torch.allclose(near[only_e], e_near[only_e]) and torch.allclose(far[only_e], e_far[only_e])
    assert torch.allclose(near[only_b], b_near[only_b]) and torch.allclose(far[only_b], b_far[only_b])
    assert torch.allclose(near[both], torch.minimum(e_near, b_near)[both])
    assert torch.allclose(far[both], torch.maximum(e_far, b_far)[both])
    assert bool((near[neither] > far[neither]).all())  # nothing to trace: the background


def test_a_ray_is_a_hit_when_it_passes_within_half_a_pixel_of_the_surface():
    """The hit test's tolerance is a cone of half a pixel (at 256 rows, below its 1 mm cap): rays passing the sphere
    closer than that are on the head, rays passing farther are background."""
    radius, rows = 0.075, 256
    heads = HeadParams.sphere(radius, n=1, dtype=D)
    cams = Camera.from_angles([0.13], 0.07, dtype=D)
    out = render_heads(heads, cams, (rows, 96))  # a tall strip: the rows' fine steps cross the outline often
    origins, dirs = cams.rays(rows, 96)
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    passes = origins.cross(dirs, dim=-1).norm(dim=-1) - radius  # closest approach to the sphere, negative inside
    half_pixel = 0.5 * 2 * torch.tan(torch.tensor(6.0, dtype=D).deg2rad()) / rows  # 4.1e-4 at distance 1
    mask = out["mask"].reshape(-1)
    near = (passes > 0.7 * half_pixel) & (passes < 0.85 * half_pixel)  # t is 0.93 to 1 at the closest approach
    far = (passes > 1.1 * half_pixel) & (passes < 0.9e-3)
    assert int(near.sum()) >= 3 and int(far.sum()) >= 3  # rays on both sides of the tolerance, close to it
    assert bool((mask[passes < 0.85 * half_pixel] == 1).all()) and bool((mask[passes > 1.1 * half_pixel] == 0).all())
