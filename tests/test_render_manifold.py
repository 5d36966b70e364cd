"""ManifoldRenderer against analytic scenes: planes, concentric spheres, closed-form compositing, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.representation import ManifoldRepresentation, Radiance
from zoo3d.render import ManifoldRenderer, composite, intersect_manifolds

NEAR, FAR, SAMPLES = 0.88, 1.12, 64
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(name)


class PlaneLevels:
    """s(x) = k z (k ~ GRAM init slope, so |s_h - s_l| > 0.05 per interval): level l is the plane z = l / k; each level has a constant colour and alpha."""

    def __init__(self, plane_z, colours, alphas, k=80.0, background_z=None, background_rgb=(0.0, 0.0, 1.0),
                 device="cpu", dtype=torch.float64):
        kw = dict(device=device, dtype=dtype)
        self.k = k
        self.levels = torch.tensor(plane_z, **kw) * k
        self.colours, self.alphas = torch.tensor(colours, **kw), torch.tensor(alphas, **kw)
        self.background_z, self.bg_rgb = background_z, torch.tensor(background_rgb, **kw)

    def scalar(self, x):
        return self.k * x[..., 2]

    def radiance(self, points, dirs):
        B, N, P, _ = points.shape
        rgb = self.colours[None, :, None, :].expand(B, N, P, 3)
        return Radiance(rgb=rgb, alpha=self.alphas[None, :, None, None].expand(B, N, P, 1))

    def background_radiance(self, points, dirs):
        return Radiance(rgb=self.bg_rgb.expand(*points.shape[:-1], 3))


class Spheres(torch.nn.Module):
    """s(x) = k |x - c|: level l is the sphere of radius l / k; colour varies with position."""

    def __init__(self, radii, k=80.0, centre=(0.0, 0.0, -0.02), alpha=0.5, device="cpu", dtype=torch.float64):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.k = torch.nn.Parameter(torch.tensor(k, **kw))
        self.centre = torch.nn.Parameter(torch.tensor(centre, **kw))
        self.register_buffer("levels", torch.tensor(radii, **kw) * k)
        self.alpha, self.background_z = alpha, None

    def scalar(self, x):
        return self.k * (x - self.centre).norm(dim=-1)

    def radiance(self, points, dirs):
        rgb = 0.5 + 0.5 * torch.sin(40 * points)
        return Radiance(rgb=rgb, alpha=torch.full_like(points[..., :1], self.alpha))

    def background_radiance(self, points, dirs):  # pragma: no cover - no background
        raise AssertionError


def _cameras(device, dtype=torch.float64):
    return Camera.from_angles([0.25, -0.2], [0.1, -0.15], 1.0, 12.0, device=device, dtype=dtype)


def test_test_scenes_follow_the_protocol():
    assert isinstance(PlaneLevels([0.0], [[1, 0, 0]], [0.5]), ManifoldRepresentation)
    assert isinstance(Spheres([0.05]), ManifoldRepresentation)


@pytest.mark.parametrize("device", DEVICES)
def test_plane_levels_hit_at_analytic_depths(device):
    dev = _device(device)
    planes = [0.07, 0.01, -0.05]
    rep = PlaneLevels(planes, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0.3, 0.3, 0.3], device=dev)
    cams = _cameras(dev)
    o, d = cams.rays(16, 16)
    points, valid, t = intersect_manifolds(rep, o, d, NEAR, FAR, SAMPLES)
    z = torch.tensor(planes, device=dev, dtype=torch.float64)
    t_true = (z[None, :, None] - o[:, None, :, 2]) / d[:, None, :, 2]  # (B, N, P)
    inside = (t_true > NEAR + 1e-3) & (t_true < FAR - 1e-3)
    assert inside.float().mean() > 0.9
    assert torch.equal(valid, inside)
    torch.testing.assert_close(t[inside], t_true[inside], atol=1e-9, rtol=0)
    torch.testing.assert_close(points[..., 2][inside], z[None, :, None].expand_as(t)[inside], atol=1e-9, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_concentric_spheres_hits_match_ray_sphere_intersection(device):
    dev = _device(device)
    radii = [0.09, 0.06, 0.03]
    rep = Spheres(radii, device=dev)
    cams = _cameras(dev)
    o, d = cams.rays(40, 40)
    points, valid, t = intersect_manifolds(rep, o, d, NEAR, FAR, SAMPLES)
    c = rep.centre.detach()
    r = torch.tensor(radii, device=dev, dtype=torch.float64)[None, :, None]
    oc = (o - c)[:, None]  # (B, 1, P, 3)
    b = (oc * d[:, None]).sum(-1)  # ray parameter of the closest approach is -b
    impact2 = (oc * oc).sum(-1) - b ** 2
    t_true = -b - torch.sqrt((r ** 2 - impact2).clamp_min(0))
    impact = impact2.clamp_min(0).sqrt()
    tol = 1e-3 * (FAR - NEAR)
    # near-grazing hits (|s_h - s_l| <= 0.05 per interval) take GRAM's no-interpolation fallback; test the rest
    clear_hit, clear_miss = impact < 0.98 * r, impact > r
    assert clear_hit.any() and clear_miss.any()
    assert valid[clear_hit].all() and not valid[clear_miss].any()
    dist_to_centre = (points - c).norm(dim=-1)
    assert ((dist_to_centre - r.expand_as(t))[clear_hit].abs() <= tol).all()
    assert ((t - t_true)[clear_hit].abs() <= tol).all()

    out = ManifoldRenderer(SAMPLES, NEAR, FAR).render(rep, cams, (40, 40))
    miss_all = clear_miss.all(dim=1).reshape(2, 1, 40, 40)
    assert miss_all.any()
    assert (out.alpha[miss_all] == 0).all()
    assert (out.rgb[miss_all.expand(-1, 3, -1, -1)] == -1).all()
    hit_all = clear_hit.all(dim=1).reshape(2, 1, 40, 40)  # every one of the 3 layers at alpha 0.5
    torch.testing.assert_close(out.alpha[hit_all], torch.full_like(out.alpha[hit_all], 1 - 0.5 ** 3), atol=1e-8, rtol=0)


def test_composite_equals_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 7, 3, generator=g, dtype=torch.float64)
    c = torch.rand(5, 7, 3, 3, generator=g, dtype=torch.float64)
    t = torch.rand(5, 7, 3, generator=g, dtype=torch.float64).sort(-1).values
    out = composite(a, c, t)
    w = torch.stack([a[..., 0], (1 - a[..., 0]) * a[..., 1], (1 - a[..., 0]) * (1 - a[..., 1]) * a[..., 2]], -1)
    torch.testing.assert_close(out.weights, w, atol=1e-9, rtol=0)
    torch.testing.assert_close(out.rgb, (w[..., None] * c).sum(-2), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.depth[..., 0], (w * t).sum(-1), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.acc[..., 0], 1 - (1 - a).prod(-1), atol=1e-9, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_rendered_planes_with_background_equal_closed_form(device):
    dev = _device(device)
    colours = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    alphas = [0.4, 0.7]
    rep = PlaneLevels([0.05, -0.03], colours, alphas, background_z=-0.12, device=dev)
    cams = Camera.from_angles([0.0, 0.3], [0.0, 0.1], 1.0, 12.0, device=dev, dtype=torch.float64)
    out = ManifoldRenderer(SAMPLES, NEAR, FAR).render(rep, cams, (8, 8))
    o, d = cams.rays(8, 8)
    t_of = lambda z: ((z - o[..., 2]) / d[..., 2]).reshape(2, 1, 8, 8)  # noqa: E731
    w = [0.4, 0.6 * 0.7, 0.6 * 0.3]
    rgb = torch.tensor([w[0], w[1], w[2]], device=dev, dtype=torch.float64)  # bg is blue
    torch.testing.assert_close(out.rgb, (2 * rgb - 1)[None, :, None, None].expand(2, 3, 8, 8), atol=1e-8, rtol=0)
    depth = w[0] * t_of(0.05) + w[1] * t_of(-0.03) + w[2] * t_of(-0.12)
    torch.testing.assert_close(out.depth, depth, atol=1e-8, rtol=0)
    torch.testing.assert_close(out.alpha, torch.full_like(out.alpha, w[0] + w[1]), atol=1e-8, rtol=0)
    torch.testing.assert_close(out.weights.sum(1), torch.ones_like(out.depth[:, 0]), atol=1e-8, rtol=0)
    assert torch.equal(out.extras["layer_index"][:, :, 0, 0], torch.tensor([[0, 1, 2]] * 2, device=dev))
    assert (out.points[:, 1:, ..., 2] <= out.points[:, :-1, ..., 2] + 1e-12).all()  # sorted by depth


def test_per_instance_cameras_match_single_renders():
    rep = Spheres([0.09, 0.05])
    cams = _cameras("cpu")
    renderer = ManifoldRenderer(SAMPLES, NEAR, FAR, chunk=100)  # several chunks
    both = renderer.render(rep, cams, (12, 12))
    for i in range(2):
        one = renderer.render(rep, cams[i], (12, 12))
        torch.testing.assert_close(both.rgb[i:i + 1], one.rgb)
        torch.testing.assert_close(both.depth[i:i + 1], one.depth)
    assert (both.rgb[0] - both.rgb[1]).abs().max() > 0.1


def test_gradients_reach_scalar_field_parameters():
    """gradcheck in double: rgb depends on s's parameters only through the interpolated hit points."""
    levels = torch.tensor([0.09, 0.06], dtype=torch.float64) * 80
    cams = Camera.from_angles([0.05, -0.1], [0.02, 0.05], 1.0, 4.0, dtype=torch.float64)
    renderer = ManifoldRenderer(SAMPLES, NEAR, FAR)

    def render(k, centre):
        return renderer.render(_Functional(k, centre, levels), cams, (3, 3)).rgb

    k = torch.tensor(80.0, dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.003, -0.002, -0.02], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(render, (k, c), eps=1e-7, atol=1e-5)
    render(k, c).sum().backward()
    assert k.grad.abs() > 0 and c.grad.abs().sum() > 0


class _Functional:
    """Spheres s = k |x - c| whose k and c are plain tensors (for gradcheck)."""

    def __init__(self, k, centre, levels):
        self.k, self.centre, self.levels, self.background_z = k, centre, levels, None

    def scalar(self, x):
        return self.k * (x - self.centre).norm(dim=-1)

    def radiance(self, points, dirs):
        return Radiance(rgb=0.5 + 0.5 * torch.sin(40 * points), alpha=torch.full_like(points[..., :1], 0.6))


def test_normals_are_sphere_normals():
    rep = Spheres([0.09, 0.06])
    cams = _cameras("cpu")
    out = ManifoldRenderer(SAMPLES, NEAR, FAR, compute_normals=True).render(rep, cams, (10, 10))
    valid = out.extras["valid"]
    n = out.extras["layer_normals"][valid]
    expected = torch.nn.functional.normalize(out.points[valid] - rep.centre.detach(), dim=-1)
    torch.testing.assert_close(n, expected, atol=1e-9, rtol=0)
    assert out.normals.shape == (2, 3, 10, 10)


def test_hr_rendering_from_upsampled_intersections_follows_the_rays():
    rep = PlaneLevels([0.04, -0.02], [[1, 0, 0], [0, 1, 0]], [0.5, 0.5])
    cams = Camera.from_angles([0.3], [0.2], 1.0, 12.0, dtype=torch.float64)
    exact = ManifoldRenderer(SAMPLES, NEAR, FAR).render(rep, cams, (32, 32))
    errors = {}
    for align in (False, True):
        hr = ManifoldRenderer(SAMPLES, NEAR, FAR, upsample_align_corners=align).render(
            rep, cams, (32, 32), intersection_resolution=(8, 8))
        both = hr.extras["valid"] & exact.extras["valid"]
        err = (hr.points - exact.points).norm(dim=-1) * both
        errors[align] = err[..., 2:-2, 2:-2].max()  # the 2-pixel border lies outside the LR pixel centres
    pixel = 2 * math.tan(math.radians(6)) / 32  # world size of one HR pixel at distance 1
    assert errors[False] < 0.05 * pixel  # planes are nearly linear in pixel coordinates
    assert errors[True] > 10 * errors[False]  # corner alignment shifts points off zoo3d's pixel-centre rays


def test_hits_with_and_without_graph_agree():
    """With grad on, s is re-evaluated only at the bracketing samples; the hits must not change."""
    rep = Spheres([0.09, 0.06, 0.03])
    cams = _cameras("cpu")
    o, d = cams.rays(12, 12)
    with torch.no_grad():
        p0, v0, t0 = intersect_manifolds(rep, o, d, NEAR, FAR, SAMPLES)
    p1, v1, t1 = intersect_manifolds(rep, o, d, NEAR, FAR, SAMPLES)
    assert t1.requires_grad and not t0.requires_grad
    assert torch.equal(v0, v1)
    torch.testing.assert_close(t1.detach(), t0, atol=1e-12, rtol=0)
