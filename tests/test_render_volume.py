"""VolumeRenderer against analytic fields: uniform media, SDF spheres (StyleSDF and NeuS), backgrounds, sampling."""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.errors import UserError
from zoo3d.core.representation import FieldRepresentation, Radiance
from zoo3d.render import VolumeRenderer, neus_alpha_from_ends, sample_pdf, section_edges

NEAR, FAR = 0.88, 1.12
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(name)


class SphereSDF(torch.nn.Module):
    """d(x) = |x - c| - r with a learnable sharpness; colour (0.2, 0.6, 0.9), 2 feature channels = (x, y)."""

    kind = "sdf"
    bounds = 0.12

    def __init__(self, radius=0.08, centre=(0.0, 0.0, 0.0), sharpness=1e-3, device="cpu", dtype=torch.float64):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.radius, self.centre = radius, torch.tensor(centre, **kw)
        self.sdf_sharpness = torch.nn.Parameter(torch.tensor(sharpness, **kw))
        self.colour = torch.tensor([0.2, 0.6, 0.9], **kw)

    def query(self, points, dirs):
        d = (points - self.centre).norm(dim=-1, keepdim=True) - self.radius
        return Radiance(rgb=self.colour.expand_as(points), sigma=d, features=points[..., :2])


class UniformMedium:
    """Constant raw density everywhere (so alpha over [near, far] is 1 - exp(-sigma (far - near)))."""

    kind = "density"
    bounds = 1.0

    def __init__(self, raw: float, background_z=None):
        self.raw, self.background_z = raw, background_z

    def query(self, points, dirs):
        return Radiance(rgb=torch.full_like(points, 0.5), sigma=torch.full_like(points[..., :1], self.raw))

    def background_radiance(self, points, dirs):
        return Radiance(rgb=torch.tensor([1.0, 0.0, 0.0], dtype=points.dtype).expand_as(points))


def _sphere_truth(cams, H, W, radius):
    o, d = cams.rays(H, W)
    b = (o * d).sum(-1)
    impact = ((o * o).sum(-1) - b ** 2).clamp_min(0).sqrt()
    t = -b - (radius ** 2 - impact ** 2).clamp_min(0).sqrt()
    return impact.reshape(-1, 1, H, W), t.reshape(-1, 1, H, W)


def test_sphere_and_medium_follow_the_protocol():
    assert isinstance(SphereSDF(), FieldRepresentation) and isinstance(UniformMedium(0.0), FieldRepresentation)


@pytest.mark.parametrize("activation", ["softplus", "relu"])
def test_uniform_medium_alpha_is_exact(activation):
    sigma = 6.0
    raw = math.log(math.expm1(sigma)) if activation == "softplus" else sigma
    cams = Camera.from_angles([0.0, 0.4], [0.0, -0.3], dtype=torch.float64)
    renderer = VolumeRenderer(32, near=NEAR, far=FAR, density_activation=activation)
    for mode in (renderer.eval(), renderer.train()):  # jittered samples still tile [near, far]
        out = mode.render(UniformMedium(raw), cams, (4, 4), generator=torch.Generator().manual_seed(0))
        L = FAR - NEAR
        torch.testing.assert_close(out.alpha, torch.full_like(out.alpha, 1 - math.exp(-sigma * L)), atol=1e-9, rtol=0)
        torch.testing.assert_close(out.rgb, torch.full_like(out.rgb, 2 * 0.5 * (1 - math.exp(-sigma * L)) - 1),
                                   atol=1e-9, rtol=0)
    renderer.eval()
    depth = renderer.render(UniformMedium(raw), cams, (4, 4)).depth
    e = math.exp(-sigma * L)
    exact = NEAR * (1 - e) + (1 - e) / sigma - L * e  # int_near^far t sigma exp(-sigma (t - near)) dt
    torch.testing.assert_close(depth, torch.full_like(depth, exact), atol=1e-4, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sdf_mode,sharpness,slope", [("stylesdf", 2e-4, "finite"), ("neus", 2000.0, "finite"),
                                                      ("neus", 2000.0, "gradient")])
def test_sdf_sphere_silhouette_and_depth(device, sdf_mode, sharpness, slope):
    dev = _device(device)
    H = W = 24
    rep = SphereSDF(0.08, sharpness=sharpness, device=dev)
    cams = Camera.from_angles([0.0, 0.5], [0.0, 0.2], 1.0, 12.0, device=dev, dtype=torch.float64)
    renderer = VolumeRenderer(32, 32, NEAR, FAR, sdf_mode=sdf_mode, neus_slope=slope).eval()
    out = renderer.render(rep, cams, (H, W))
    impact, t_true = _sphere_truth(cams, H, W, 0.08)
    pixel = 2 * math.tan(math.radians(6)) / H
    inside, outside = impact < 0.08 - pixel, impact > 0.08 + pixel
    assert inside.float().mean() > 0.3 and outside.float().mean() > 0.2
    assert (out.alpha[inside] > 0.99).all() and (out.alpha[outside] < 1e-3).all()
    err = (out.depth[inside] - t_true[inside]).abs()
    coarse_section = (FAR - NEAR) / 32
    assert err.median() < 0.2 * coarse_section and err.max() < 0.5 * coarse_section  # oblique rays near the rim
    rgb = (out.rgb + 1) / 2
    torch.testing.assert_close(rgb[:, 2][inside[:, 0]], torch.full_like(rgb[:, 2][inside[:, 0]], 0.9), atol=1e-2, rtol=0)
    assert out.features.shape == (2, 2, H, W) and out.weights.shape[1] == 64


def test_sdf_sharpness_receives_gradient():
    rep = SphereSDF(0.08, sharpness=5e-3)
    cams = Camera.from_angles([0.1], [0.0], dtype=torch.float64)
    out = VolumeRenderer(16, 8, NEAR, FAR).eval().render(rep, cams, (6, 6))
    out.rgb.sum().backward()
    assert rep.sdf_sharpness.grad is not None and rep.sdf_sharpness.grad.abs() > 0
    # the gradient is the derivative: a central difference of the float64 render agrees (without importance
    # samples, whose positions move with the sharpness but carry no gradient, by design)
    fixed = VolumeRenderer(16, 0, NEAR, FAR).eval()
    rep.sdf_sharpness.grad = None
    fixed.render(rep, cams, (6, 6)).rgb.sum().backward()
    h = 1e-7
    with torch.no_grad():
        base = rep.sdf_sharpness.detach().clone()
        values = []
        for delta in (h, -h):
            rep.sdf_sharpness.copy_(base + delta)
            values.append(fixed.render(rep, cams, (6, 6)).rgb.sum())
        rep.sdf_sharpness.copy_(base)
    assert rep.sdf_sharpness.grad.item() == pytest.approx(((values[0] - values[1]) / (2 * h)).item(), rel=1e-5)


def test_backgrounds_white_colour_and_plane():
    cams = Camera.from_angles([0.3], [0.1], dtype=torch.float64)
    empty = UniformMedium(-30.0, background_z=-0.12)  # softplus(-30) ~ 1e-13: nothing in front
    white = VolumeRenderer(8, near=NEAR, far=FAR, background="white").eval().render(empty, cams, (4, 4))
    torch.testing.assert_close(white.rgb, torch.ones_like(white.rgb), atol=1e-9, rtol=0)
    grey = VolumeRenderer(8, near=NEAR, far=FAR, background=(0.25, 0.5, 0.75)).eval().render(empty, cams, (4, 4))
    torch.testing.assert_close(grey.rgb[0, :, 0, 0], torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64))
    plane = VolumeRenderer(8, near=NEAR, far=FAR, background="plane").eval().render(empty, cams, (4, 4))
    o, d = cams.rays(4, 4)
    t_plane = ((-0.12 - o[..., 2]) / d[..., 2]).reshape(1, 1, 4, 4)
    torch.testing.assert_close(plane.depth, t_plane, atol=1e-9, rtol=0)
    torch.testing.assert_close(plane.rgb[0, :, 1, 1], torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    assert plane.alpha.abs().max() < 1e-9
    # an opaque medium hides the plane completely
    fog = VolumeRenderer(8, near=NEAR, far=FAR, background="plane").eval().render(
        UniformMedium(2000.0, background_z=-0.12), cams, (4, 4))
    torch.testing.assert_close(fog.rgb, torch.zeros_like(fog.rgb), atol=1e-9, rtol=0)


def test_importance_samples_follow_the_pdf():
    edges = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64).expand(2, 5)
    weights = torch.tensor([[0.0, 1.0, 3.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    t = sample_pdf(edges, weights, 400, eps=0.0)
    frac_in_2nd = ((t[0] >= 1) & (t[0] < 2)).double().mean()
    assert abs(frac_in_2nd - 0.25) < 0.01 and ((t[0] >= 1) & (t[0] <= 3)).all()
    assert ((t[1] >= 3) & (t[1] <= 4)).all()
    assert (t[:, 1:] >= t[:, :-1]).all()
    t_rand = sample_pdf(edges, weights, 4000, deterministic=False, generator=torch.Generator().manual_seed(0), eps=0.0)
    assert abs(((t_rand[0] >= 1) & (t_rand[0] < 2)).double().mean() - 0.25) < 0.03
    s = torch.tensor([[0.1, 0.5, 0.6]])
    torch.testing.assert_close(section_edges(s, 0.0, 1.0), torch.tensor([[0.0, 0.3, 0.55, 1.0]]))


def test_neus_opacity_closed_form():
    prev = torch.tensor([0.0, 0.01, -0.01, 0.02], dtype=torch.float64)
    nxt = torch.tensor([-0.01, -0.01, 0.01, 0.03], dtype=torch.float64)
    s = 100.0
    phi = lambda x: 1 / (1 + torch.exp(-s * x))  # noqa: E731
    expected = ((phi(prev) - phi(nxt)) / phi(prev)).clamp_min(0)
    torch.testing.assert_close(neus_alpha_from_ends(prev, nxt, s), expected, atol=1e-4, rtol=0)
    assert neus_alpha_from_ends(prev, nxt, s)[2] < 1e-3  # leaving the surface is transparent


def test_offset_jitter_keeps_samples_evenly_spaced_and_stratified_does_not():
    from zoo3d.render.samples import bin_centres

    like = torch.zeros(1)
    g = torch.Generator().manual_seed(0)
    offset = bin_centres(0.88, 1.12, 16, (4, 5), like, jitter="offset", generator=g)
    strat = bin_centres(0.88, 1.12, 16, (4, 5), like, jitter="stratified", generator=g)
    step = 0.24 / 16
    assert torch.allclose(offset.diff(dim=-1), torch.full_like(offset[..., 1:], step), atol=1e-6)
    assert (strat.diff(dim=-1) - step).abs().max() > 0.1 * step
    for t in (offset, strat):  # each sample stays inside its own bin
        lo = 0.88 + step * torch.arange(16)
        assert ((t >= lo - 1e-7) & (t <= lo + step + 1e-7)).all()
    assert offset[..., 0].std() > 0  # the offset differs from ray to ray


# ---------------------------------------------------------------- the authors' sampling conventions


def test_sample_layouts_and_given_draws():
    from zoo3d.render.samples import place_samples

    like = torch.zeros(1, dtype=torch.float64)
    edges = place_samples(0.0, 1.0, 4, (1,), like, "edges")
    torch.testing.assert_close(edges, torch.tensor([[0.0, 0.25, 0.5, 0.75]], dtype=torch.float64))
    lin = place_samples(0.0, 1.0, 5, (1,), like, "linspace")
    torch.testing.assert_close(lin, torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.0]], dtype=torch.float64))
    u = torch.tensor([[0.0, 0.5, 1.0, 0.25, 0.75]], dtype=torch.float64)
    # pi-GAN: +-half a step around each position; StyleSDF offset: one u per ray, inside the bin
    torch.testing.assert_close(place_samples(0.0, 1.0, 5, (1,), like, "linspace", "stratified", u=u),
                               lin + (u - 0.5) * 0.25)
    torch.testing.assert_close(place_samples(0.0, 1.0, 4, (1,), like, "edges", "offset", u=u[:, 3:4]),
                               edges + 0.25 * 0.25)


def test_differences_integration_gives_nerf_weights_and_the_last_sample_absorbs_the_rest():
    cams = Camera.from_angles(0.0, 0.0, fov=12.0, dtype=torch.float64)
    sigma, S = 5.0, 8
    r = VolumeRenderer(S, near=NEAR, far=FAR, density_activation="relu", spacing="linspace",
                       intervals="differences").eval()
    w = r.render(UniformMedium(sigma), cams, (2, 2)).weights[0, :, 0, 0]
    step = (FAR - NEAR) / (S - 1)
    k = torch.arange(S, dtype=torch.float64)
    expected = torch.exp(-sigma * step * k) * (1 - math.exp(-sigma * step))
    expected[-1] = math.exp(-sigma * step * (S - 1))  # 1e10 interval: all that is left
    torch.testing.assert_close(w, expected, atol=1e-9, rtol=0)


def test_fill_last_makes_empty_rays_take_the_last_sample_at_inference_only():
    cams = Camera.from_angles(0.0, 0.0, fov=12.0, dtype=torch.float64)
    r = VolumeRenderer(6, near=NEAR, far=FAR, density_activation="relu", eval_fill_last=True)
    empty = UniformMedium(-1.0)  # ReLU density 0 everywhere
    out = r.eval().render(empty, cams, (2, 2))
    torch.testing.assert_close(out.rgb, torch.zeros_like(out.rgb))  # the last sample's grey 0.5 -> 0
    assert out.weights[:, -1].eq(1).all() and out.alpha.eq(0).all()  # alpha: opacity before filling
    assert r.train().render(empty, cams, (2, 2)).rgb.eq(-1).all()


def test_depth_along_the_axis_puts_samples_on_planes_facing_the_camera():
    cams = Camera.from_angles(0.3, -0.1, fov=12.0, dtype=torch.float64)
    r = VolumeRenderer(4, near=NEAR, far=FAR, spacing="edges", depth_along="axis").eval()
    out = r.render(UniformMedium(1.0), cams, (5, 5))
    o, d = cams.rays(5, 5)
    t = out.extras["t"].flatten(2).transpose(1, 2)  # distances along the unit rays
    depth = t * (d * cams.cam2world[:, None, :3, 2]).sum(-1, keepdim=True)  # along the viewing axis
    torch.testing.assert_close(depth, (NEAR + 0.06 * torch.arange(4, dtype=torch.float64)).expand_as(depth))


class DirectionColour:
    """rgb = (dir + 1) / 2, density 0: shows which directions the field was asked about."""

    kind = "density"

    def query(self, points, dirs):
        return Radiance(rgb=(dirs + 1) / 2, sigma=torch.zeros_like(points[..., :1]))


def test_camera_frame_view_directions_lock_view_dependence_to_the_image():
    frontal = Camera.from_angles(0.0, 0.0, fov=12.0, dtype=torch.float64)
    turned = Camera.from_angles(0.4, 0.2, fov=12.0, dtype=torch.float64)
    locked = VolumeRenderer(3, near=NEAR, far=FAR, eval_fill_last=True, eval_view_dirs="camera").eval()
    world = VolumeRenderer(3, near=NEAR, far=FAR, eval_fill_last=True).eval()
    a, b = (locked.render(DirectionColour(), c, (4, 4)).rgb for c in (frontal, turned))
    torch.testing.assert_close(a, b)  # same image-space directions whatever the pose
    torch.testing.assert_close(a, world.render(DirectionColour(), frontal, (4, 4)).rgb)  # frontal: world = camera
    assert (world.render(DirectionColour(), turned, (4, 4)).rgb - b).abs().max() > 0.1


def test_eg3d_sampling_integrates_a_uniform_medium_over_its_jittered_span_and_centres_it_in_eval():
    """EG3D's intervals run from the first to the last (jittered) sample: linspace(near, far, S) + u (far - near)/(S - 1)."""
    from zoo3d.render.volume import SampleDraws

    cams = Camera.from_angles([0.0, 0.3], [0.0, -0.1])
    renderer = VolumeRenderer(num_samples=8, num_importance=6, near=NEAR, far=FAR, sampling="eg3d").eval()
    sigma = math.log1p(math.exp(3.0))  # softplus(3)
    out = renderer.render(UniformMedium(3.0), cams, (4, 4))
    torch.testing.assert_close(out.alpha, torch.full_like(out.alpha, 1 - math.exp(-sigma * (FAR - NEAR))))
    # given draws are taken as they are (any jitter: the span, and so the opacity, is the same)
    u = torch.full((2, 16, 8), 0.25)
    jittered = renderer.render(UniformMedium(3.0), cams, (4, 4), draws=SampleDraws(u, torch.rand(2, 16, 6)))
    torch.testing.assert_close(jittered.alpha, out.alpha)
    # without importance samples the interval midpoints are linspace + (u + 1/2) step, u = 1/2 in eval mode
    coarse = VolumeRenderer(num_samples=8, near=NEAR, far=FAR, sampling="eg3d").eval()
    step = (FAR - NEAR) / 7
    for draws, u0 in ((None, 0.5), (SampleDraws(u), 0.25)):
        t = coarse.render(UniformMedium(3.0), cams, (4, 4), draws=draws).extras["t"]
        expected = NEAR + (u0 + 0.5 + torch.arange(7.0)) * step
        torch.testing.assert_close(t, expected.view(1, 7, 1, 1).expand_as(t))


def test_eg3d_importance_weights_are_max_then_mean_smoothed_with_a_floor():
    from zoo3d.render.samples import smoothed_interval_weights

    w = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.4]])
    torch.testing.assert_close(smoothed_interval_weights(w), torch.tensor([[0.5, 1.0, 0.5, 0.2, 0.4]]) + 0.01)


def test_an_sdf_field_without_sharpness_is_told_what_to_give():
    class Bare:  # an SDF field that forgot its sharpness
        kind, bounds = "sdf", 0.12

        def query(self, points, dirs):
            d = points.norm(dim=-1, keepdim=True) - 0.08
            return Radiance(rgb=torch.ones_like(points), sigma=d)

    cams = Camera.from_angles([0.0], [0.0], 1.0, 12.0, dtype=torch.float64)
    with pytest.raises(UserError, match="Bare is an SDF field .* without `sdf_sharpness`"):
        VolumeRenderer(8, 0, 0.88, 1.12, sdf_mode="stylesdf").render(Bare(), cams, (4, 4))


def test_float64_cameras_render_a_float32_field():
    """Cameras and field need not share a dtype: the samples take the cameras' and the answers are mixed in
    the promoted dtype, to the same medium's exact alpha."""
    sigma = 6.0
    cams = Camera.from_angles([0.0, 0.4], [0.0, -0.3], dtype=torch.float64)

    class Float32Medium(UniformMedium):
        def query(self, points, dirs):
            return Radiance(rgb=torch.full(points.shape, 0.5), sigma=torch.full(points.shape[:-1] + (1,), self.raw))

    for sampling in ("sections", "eg3d"):
        out = VolumeRenderer(32, near=NEAR, far=FAR, density_activation="relu", sampling=sampling).eval().render(
            Float32Medium(sigma), cams, (4, 4))
        torch.testing.assert_close(out.alpha, torch.full_like(out.alpha, 1 - math.exp(-sigma * (FAR - NEAR))),
                                   atol=1e-5, rtol=0)
        assert out.rgb.dtype == torch.float64


def test_midpoint_importance_bins_need_three_coarse_samples():
    with pytest.raises(ValueError, match="num_samples >= 3"):
        VolumeRenderer(2, num_importance=4, importance_bins="midpoints")
    VolumeRenderer(2, num_importance=0, importance_bins="midpoints")  # no importance draws: nothing to refuse
    VolumeRenderer(3, num_importance=4, importance_bins="midpoints")
