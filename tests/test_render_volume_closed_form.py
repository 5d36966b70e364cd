"""VolumeRenderer against a plain per-ray reference: every option's quadrature written out with loops.

The reference (``_plain``) places the samples, evaluates the field one point at a time, computes the
intervals, opacities (density, StyleSDF, NeuS with its annealed slope), the transmittance with its 1e-10
and the composites in Python floats. Importance samples come from ``sample_pdf`` (scored on its own in
``test_render_samples.py``) applied to the reference's coarse weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from conftest import reference_weights
from zoo3d.cameras import Camera
from zoo3d.core.representation import Radiance
from zoo3d.render import VolumeRenderer, neus_alpha, neus_alpha_from_ends, ray_slope, sample_pdf, stylesdf_density
from zoo3d.render.volume import SampleDraws

pytestmark = pytest.mark.usefixtures("single_thread")

NEAR, FAR = 0.88, 1.12
CENTRE = (0.01, -0.02, 0.015)
TOL = dict(atol=1e-10, rtol=0)


class Cloud:
    """Density 30 (1 - 60 r^2) around CENTRE (negative outside, so ReLU clips it), rgb and 4 features varying
    with position and direction (the field must be asked at the right points with the right directions)."""

    kind = "density"

    def __init__(self, background_z=None, faint=False):
        self.background_z, self.faint = background_z, faint

    def raw(self, p):
        if self.faint:  # ReLU density 1e-10: only the 1e10 last interval of "differences" is visibly opaque
            return torch.full_like(p[..., :1], 1e-10)
        return 30 * (1 - 60 * ((p - torch.tensor(CENTRE, dtype=p.dtype)) ** 2).sum(-1, keepdim=True))

    def query(self, points, dirs):
        rgb = 0.5 + 0.4 * torch.sin(9 * points + 3 * dirs)
        return Radiance(rgb=rgb, sigma=self.raw(points), features=torch.cat([points, 2 * dirs[..., :1]], -1))


class Ball(Cloud):
    """SDF of a sphere of radius 0.07 around CENTRE with sharpness a (StyleSDF) or s (NeuS)."""

    kind = "sdf"

    def __init__(self, sharpness, background_z=None):
        super().__init__(background_z)
        self.sdf_sharpness = torch.tensor(sharpness, dtype=torch.float64)

    def raw(self, p):
        return (p - torch.tensor(CENTRE, dtype=p.dtype)).norm(dim=-1, keepdim=True) - 0.07


def _camera(yaw=0.15, pitch=-0.1, cx=0.5, cy=0.5):
    cam = Camera.from_angles([yaw, -yaw], [pitch, 0.05], dtype=torch.float64)
    k = cam.intrinsics.clone()
    k[:, 0, 2], k[:, 1, 2] = cx, cy
    return Camera(cam.cam2world, k)


# ---------------------------------------------------------------- the reference, one ray at a time

def _softplus(x):
    return math.log1p(math.exp(x)) if x <= 20 else x


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _field(rep, o, d, ts, view=None):
    """raw, rgb, features at o + t d (one point per query), asked with direction ``view`` (default d)."""
    view = d if view is None else view
    out = []
    for t in ts:
        p = torch.tensor([[[o[i] + t * d[i] for i in range(3)]]], dtype=torch.float64)
        r = rep.query(p, torch.tensor([[view]], dtype=torch.float64))
        out.append((r.sigma.item(), r.rgb[0, 0].tolist(), r.features[0, 0].tolist()))
    return [x[0] for x in out], [x[1] for x in out], [x[2] for x in out]


def _alphas(rep, cfg, ts, raws, near, far, slopes=None, last=1e10):
    K = len(ts)
    edges = [near] + [0.5 * (ts[k] + ts[k + 1]) for k in range(K - 1)] + [far]
    if cfg.get("intervals") == "differences":
        deltas = [ts[k + 1] - ts[k] for k in range(K - 1)] + [last]
    else:
        deltas = [edges[k + 1] - edges[k] for k in range(K)]
    if rep.kind == "density":
        act = (lambda x: max(x, 0.0)) if cfg.get("density_activation") == "relu" else _softplus
        return [1 - math.exp(-act(r) * dl) for r, dl in zip(raws, deltas)]
    a = float(rep.sdf_sharpness)
    if cfg.get("sdf_mode", "stylesdf") == "stylesdf":
        return [1 - math.exp(-_sigmoid(-r / a) / a * dl) for r, dl in zip(raws, deltas)]
    if slopes is None:  # central differences, one-sided at the ends
        slopes = [(raws[min(k + 1, K - 1)] - raws[max(k - 1, 0)]) / (ts[min(k + 1, K - 1)] - ts[max(k - 1, 0)])
                  for k in range(K)]
    r = cfg.get("cos_anneal_ratio", 1.0)
    out = []
    for k in range(K):
        cos = slopes[k]
        c = -(max(-cos * 0.5 + 0.5, 0.0) * (1 - r) + max(-cos, 0.0) * r)
        prev = _sigmoid((raws[k] - c * (ts[k] - edges[k])) * a)
        nxt = _sigmoid((raws[k] + c * (edges[k + 1] - ts[k])) * a)
        out.append(min(max((prev - nxt + 1e-5) / (prev + 1e-5), 0.0), 1.0))
    return out


def _weights(alphas):
    return reference_weights(alphas, 1e-10)  # the volume renderer's transmittance guard, written out


def _sphere_slopes(o, d, ts):
    """d . grad |x - c| = d . (x - c) / |x - c| (the NeuS "gradient" slope, analytically)."""
    out = []
    for t in ts:
        v = [o[i] + t * d[i] - CENTRE[i] for i in range(3)]
        out.append(sum(d[i] * v[i] for i in range(3)) / math.sqrt(sum(x * x for x in v)))
    return out


def _plain(rep, o, d, cfg, view=None, stretch=1.0, jitter=None, importance_u=None):
    """One ray: (rgb, depth, alpha, features, weights, t, raw). ``d`` may have length ``stretch`` (depths along
    the axis); ``jitter``: the per-sample draws u of "bins" ("stratified"); ``importance_u``: the inverse-CDF draws."""
    S, N = cfg.get("num_samples", 6), cfg.get("num_importance", 0)
    step = (FAR - NEAR) / S
    if cfg.get("spacing") == "linspace":
        ts = [NEAR + k * (FAR - NEAR) / (S - 1) for k in range(S)]
    else:
        ts = [NEAR + (k + (0.5 if jitter is None else jitter[k])) * step for k in range(S)]
    raws, rgbs, feats = _field(rep, o, d, ts, view)
    gradient = cfg.get("neus_slope") == "gradient"
    unit = [x / stretch for x in d]
    ts = [t * stretch for t in ts]  # distances from here on
    near, far = NEAR * stretch, FAR * stretch
    slopes = _sphere_slopes(o, unit, ts) if gradient else None
    if N:
        w = _weights(_alphas(rep, cfg, ts, raws, near, far, slopes, 1e10 * stretch))
        if cfg.get("importance_bins") == "midpoints":
            edges, w = [0.5 * (ts[k] + ts[k + 1]) for k in range(S - 1)], [x + 1e-5 for x in w[1:-1]]
        else:
            edges = [near] + [0.5 * (ts[k] + ts[k + 1]) for k in range(S - 1)] + [far]
        u = None if importance_u is None else torch.tensor([importance_u], dtype=torch.float64)
        fine = sample_pdf(torch.tensor([edges], dtype=torch.float64), torch.tensor([w], dtype=torch.float64), N,
                          u=u)[0].tolist()
        raws_f, rgbs_f, feats_f = _field(rep, o, unit, fine, view)
        order = sorted(range(S + N), key=lambda i: (ts + fine)[i])
        ts, raws = [(ts + fine)[i] for i in order], [(raws + raws_f)[i] for i in order]
        rgbs, feats = [(rgbs + rgbs_f)[i] for i in order], [(feats + feats_f)[i] for i in order]
        slopes = _sphere_slopes(o, unit, ts) if gradient else None
    alphas = _alphas(rep, cfg, ts, raws, near, far, slopes, 1e10 * stretch)
    w = _weights(alphas)
    acc = sum(w)
    if cfg.get("eval_fill_last"):
        w[-1] = 1 - sum(w[:-1])
    rgb = [sum(wk * c[i] for wk, c in zip(w, rgbs)) for i in range(3)]
    bg = cfg.get("background")
    if bg is not None:
        colour = [1.0, 1.0, 1.0] if bg == "white" else list(bg)
        rgb = [rgb[i] + (1 - acc) * colour[i] for i in range(3)]  # pi-GAN: 1 - the weights before the fill
    features = [sum(wk * f[i] for wk, f in zip(w, feats)) for i in range(4)]
    return rgb, sum(wk * t for wk, t in zip(w, ts)), acc, features, w, ts, raws


def _check(out, cam, H, W, reference, tol=TOL):
    """out (RenderOutput) against ``reference(b, o, d, pixel)`` for every ray, rays row-major."""
    o, d = cam.rays(H, W)
    for b in range(o.shape[0]):
        for p in range(H * W):
            rgb, depth, acc, feats, w, ts, raws = reference(b, o[b, p].tolist(), d[b, p].tolist(), p)
            i, j = divmod(p, W)
            torch.testing.assert_close(out.rgb[b, :, i, j], torch.tensor(rgb, dtype=torch.float64) * 2 - 1, **tol)
            torch.testing.assert_close(out.depth[b, 0, i, j].item(), depth, **tol)
            torch.testing.assert_close(out.alpha[b, 0, i, j].item(), acc, **tol)
            torch.testing.assert_close(out.features[b, :, i, j], torch.tensor(feats, dtype=torch.float64), **tol)
            torch.testing.assert_close(out.weights[b, :, i, j], torch.tensor(w, dtype=torch.float64), **tol)
            torch.testing.assert_close(out.extras["t"][b, :, i, j], torch.tensor(ts, dtype=torch.float64), **tol)
            torch.testing.assert_close(out.extras["raw"][b, :, i, j], torch.tensor(raws, dtype=torch.float64), **tol)


CONFIGS = {
    "density, sections, importance over sections, colour background": (
        Cloud, dict(num_samples=6, num_importance=4, background=(0.2, 0.4, 0.6))),
    "relu, pi-GAN linspace, differences, importance over midpoints, fill last": (
        Cloud, dict(num_samples=6, num_importance=3, density_activation="relu", spacing="linspace",
                    intervals="differences", importance_bins="midpoints", eval_fill_last=True)),
    "relu, pi-GAN linspace, fill last, white background (pi-GAN adds the white left before the fill)": (
        Cloud, dict(num_samples=6, num_importance=3, density_activation="relu", spacing="linspace",
                    intervals="differences", importance_bins="midpoints", eval_fill_last=True, background="white")),
    "StyleSDF density, one importance sample, white background": (
        lambda: Ball(0.01), dict(num_samples=7, num_importance=1, background="white")),
    "NeuS, finite-difference slope, annealed": (
        lambda: Ball(60.0), dict(num_samples=7, num_importance=3, sdf_mode="neus", cos_anneal_ratio=0.3)),
    "NeuS, gradient slope, annealed": (
        lambda: Ball(60.0), dict(num_samples=7, num_importance=3, sdf_mode="neus", neus_slope="gradient",
                                 cos_anneal_ratio=0.6)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_render_equals_the_plain_quadrature(name):
    """Eval mode (bin centres, deterministic importance samples), a 3 x 4 image (not square), two cameras,
    rays split over chunks of 5."""
    make, cfg = CONFIGS[name]
    rep = make()
    cam = _camera()
    out = VolumeRenderer(near=NEAR, far=FAR, chunk=10, **cfg).eval().render(rep, cam, (3, 4))
    _check(out, cam, 3, 4, lambda b, o, d, p: _plain(rep, o, d, cfg))


def test_training_draws_follow_the_pixels_across_chunks():
    """Given draws (train mode): pixel p of image b uses jitter[b, p] and importance[b, p], whatever the chunk."""
    cfg = dict(num_samples=5, num_importance=3)
    g = torch.Generator().manual_seed(4)
    draws = SampleDraws(torch.rand(2, 12, 5, generator=g, dtype=torch.float64),
                        torch.rand(2, 12, 3, generator=g, dtype=torch.float64).sort(-1).values)
    rep, cam = Cloud(), _camera()
    out = VolumeRenderer(near=NEAR, far=FAR, chunk=6, **cfg).train().render(rep, cam, (3, 4), draws=draws)
    _check(out, cam, 3, 4, lambda b, o, d, p: _plain(rep, o, d, cfg, jitter=draws.jitter[b, p].tolist(),
                                                       importance_u=draws.importance[b, p].tolist()))


def test_depths_along_the_axis_with_a_principal_point_off_centre():
    """StyleSDF's convention: samples at depths along the viewing axis, so the ray (x, y, 1) in the camera
    frame (principal point (0.45, 0.55)) is rotated unnormalised and every distance, near/far and the 1e10 last
    interval are stretched by its length; the field is shown the unit direction (as StyleSDF normalises its
    view directions) and NeuS's slope is per unit distance. A faint medium (density 1e-10) makes the last
    interval's stretch visible."""
    cam = _camera(cx=0.45, cy=0.55)
    H, W = 3, 4
    uv = cam.pixel_grid(H, W)
    for rep, cfg in ((Cloud(), dict(num_samples=5, num_importance=3)),
                     (Cloud(faint=True), dict(num_samples=5, num_importance=2, density_activation="relu",
                                              intervals="differences")),
                     (Ball(60.0), dict(num_samples=5, num_importance=2, sdf_mode="neus", neus_slope="gradient"))):
        out = VolumeRenderer(near=NEAR, far=FAR, depth_along="axis", **cfg).eval().render(rep, cam, (H, W))

        def reference(b, o, d, p):
            k = cam.intrinsics[b]
            local = [(uv[p, 0] - k[0, 2]) / k[0, 0], (uv[p, 1] - k[1, 2]) / k[1, 1], 1.0]
            R = cam.cam2world[b, :3, :3]
            axis = [sum(R[i, j].item() * float(local[j]) for j in range(3)) for i in range(3)]
            stretch = math.sqrt(sum(x * x for x in axis))
            return _plain(rep, o, axis, cfg, view=[x / stretch for x in axis], stretch=stretch)

        _check(out, cam, H, W, reference)


def test_camera_view_directions_are_x_right_y_up_looking_down_minus_z():
    """eval_view_dirs="camera": the field is asked with the unit ray in the camera frame, (x, -y, -1) / norm;
    NeuS's slope stays along the world ray."""
    cam = _camera(cx=0.45, cy=0.55)
    H, W = 3, 4
    uv = cam.pixel_grid(H, W)
    for rep, cfg in ((Cloud(), dict(num_samples=5, num_importance=2)),
                     (Ball(60.0), dict(num_samples=5, num_importance=2, sdf_mode="neus", neus_slope="gradient"))):
        out = VolumeRenderer(near=NEAR, far=FAR, eval_view_dirs="camera", **cfg).eval().render(rep, cam, (H, W))

        def reference(b, o, d, p):
            k = cam.intrinsics[b]
            v = [float((uv[p, 0] - k[0, 2]) / k[0, 0]), -float((uv[p, 1] - k[1, 2]) / k[1, 1]), -1.0]
            n = math.sqrt(sum(x * x for x in v))
            return _plain(rep, o, d, cfg, view=[x / n for x in v])

        _check(out, cam, H, W, reference)


def test_the_camera_resolution_is_used_when_none_is_given():
    cam = _camera()
    cam.resolution = (2, 3)
    r = VolumeRenderer(4, near=NEAR, far=FAR).eval()
    a, b = r.render(Cloud(), cam), r.render(Cloud(), cam, (2, 3))
    assert a.rgb.shape == (2, 3, 2, 3) and torch.equal(a.rgb, b.rgb)


# ---------------------------------------------------------------- the background plane

def _plane_reference(rep, o, d, cfg, z):
    """Samples at or behind the plane z are dropped; the plane is an opaque last layer with the field's (or
    the background's) colour at the hit; alpha reports the samples' opacity only."""
    S = cfg["num_samples"]
    ts = [NEAR + (k + 0.5) * (FAR - NEAR) / S for k in range(S)]
    raws, rgbs, feats = _field(rep, o, d, ts)
    t_bg = (z - o[2]) / d[2] if abs(d[2]) > 1e-12 else 0.0
    hit = abs(d[2]) > 1e-12 and t_bg > 0
    alphas = [a if (not hit or t < t_bg) else 0.0 for a, t in zip(_alphas(rep, cfg, ts, raws, NEAR, FAR), ts)]
    p_bg = [o[i] + t_bg * d[i] for i in range(3)]
    answer = getattr(rep, "background_radiance", None)
    q = (answer or rep.query)(torch.tensor([[p_bg]], dtype=torch.float64), torch.tensor([[d]], dtype=torch.float64))
    bg_feats = [0.0] * 4 if q.features is None else q.features[0, 0].tolist()
    w = _weights(alphas + [1.0 if hit else 0.0])
    rgbs, feats, ts = rgbs + [q.rgb[0, 0].tolist()], feats + [bg_feats], ts + [t_bg if hit else 0.0]
    rgb = [sum(wk * c[i] for wk, c in zip(w, rgbs)) for i in range(3)]
    features = [sum(wk * f[i] for wk, f in zip(w, feats)) for i in range(4)]
    return rgb, sum(wk * t for wk, t in zip(w, ts)), sum(w[:-1]), features, w, ts, raws


class Backdrop(Cloud):
    """A Cloud with its own background answer (colour from the hit point and the direction, features or none)."""

    def __init__(self, background_z, features=True):
        super().__init__(background_z)
        self.features = features

    def background_radiance(self, points, dirs):
        return Radiance(rgb=0.5 + 0.5 * torch.cos(20 * points + dirs),
                        features=-points[..., [0, 1, 2, 0]] if self.features else None)


def _without_background_z():
    rep = Cloud()
    del rep.background_z
    return rep


@pytest.mark.parametrize("rep,z", [(Cloud(background_z=0.02), 0.02), (Backdrop(0.0), 0.0),
                                   (Backdrop(0.01, features=False), 0.01), (Cloud(), -0.12),
                                   (_without_background_z(), -0.12)])
def test_background_plane_equals_the_plain_composite(rep, z):
    """The plane cuts the cloud (samples behind it are dropped); without ``background_z`` it sits at -0.12;
    without ``background_radiance`` the field itself colours it (features too; zeros when the answer has none)."""
    cfg = dict(num_samples=6, background="plane")
    cam = _camera()
    out = VolumeRenderer(near=NEAR, far=FAR, **cfg).eval().render(rep, cam, (3, 4))
    o, d = cam.rays(3, 4)
    t_bg = (z - o[..., 2]) / d[..., 2]
    assert ((t_bg > NEAR) & (t_bg < FAR)).any() or z == -0.12  # the plane cuts some rays' samples
    _check(out, cam, 3, 4, lambda b, o, d, p: _plane_reference(rep, o, d, cfg, z))


def test_a_sample_exactly_on_the_plane_is_dropped_and_rays_parallel_to_it_miss():
    """Samples 0.625, 0.875, 1.125, 1.375 (exact in binary) and the plane z = 0.125 at t = 0.875 along -z."""
    r = VolumeRenderer(4, near=0.5, far=1.5, background="plane").eval()
    rep = Cloud(background_z=0.125)
    rep.raw = lambda p: torch.full_like(p[..., :1], 3.0)
    o = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    d = torch.tensor([[[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]], dtype=torch.float64)
    out = r.render_rays(rep, o, d)
    a = 1 - math.exp(-_softplus(3.0) * 0.25)
    torch.testing.assert_close(out["weights"][0, 0], torch.tensor(_weights([a, 0.0, 0.0, 0.0, 1.0]),
                                                                  dtype=torch.float64), **TOL)
    torch.testing.assert_close(out["weights"][0, 1], torch.tensor(_weights([a] * 4 + [0.0]), dtype=torch.float64),
                               **TOL)


# ---------------------------------------------------------------- EG3D's sampler and ray marcher

def _eg3d_plain(rep, o, d, cfg, u=None, u_fine=None):
    S, N = cfg["num_samples"], cfg.get("num_importance", 0)
    delta = (FAR - NEAR) / (S - 1)
    u = [0.5] * S if u is None else u
    ts = [NEAR + k * delta + u[k] * delta for k in range(S)]
    raws, rgbs, feats = _field(rep, o, d, ts)

    def intervals(ts, raws, rgbs, feats):
        K = len(ts) - 1
        mid = lambda v, k: [(a + b) / 2 for a, b in zip(v[k], v[k + 1])]  # noqa: E731
        dl = [ts[k + 1] - ts[k] for k in range(K)]
        tm = [(ts[k + 1] + ts[k]) / 2 for k in range(K)]
        rm = [(raws[k] + raws[k + 1]) / 2 for k in range(K)]
        if rep.kind == "density":
            sig = [_softplus(r) if cfg.get("density_activation", "softplus") == "softplus" else max(r, 0.0) for r in rm]
        else:
            a = float(rep.sdf_sharpness)
            sig = [_sigmoid(-r / a) / a for r in rm]
        return [1 - math.exp(-s * x) for s, x in zip(sig, dl)], tm, rm, [mid(rgbs, k) for k in range(K)], \
            [mid(feats, k) for k in range(K)]

    if N:
        alphas, tm, *_ = intervals(ts, raws, rgbs, feats)
        w = _weights(alphas)
        padded = [w[0]] + w + [w[-1]]
        mx = [max(padded[k], padded[k + 1]) for k in range(len(w) + 1)]
        smooth = [(mx[k] + mx[k + 1]) / 2 + 0.01 for k in range(len(w))]
        uf = None if u_fine is None else torch.tensor([u_fine], dtype=torch.float64)
        fine = sample_pdf(torch.tensor([tm[:S - 2]], dtype=torch.float64),
                          torch.tensor([smooth[1:-1]], dtype=torch.float64), N, u=uf)[0].tolist()
        raws_f, rgbs_f, feats_f = _field(rep, o, d, fine)
        order = sorted(range(S + N), key=lambda i: (ts + fine)[i])
        ts, raws = [(ts + fine)[i] for i in order], [(raws + raws_f)[i] for i in order]
        rgbs, feats = [(rgbs + rgbs_f)[i] for i in order], [(feats + feats_f)[i] for i in order]
    alphas, tm, rm, cm, fm = intervals(ts, raws, rgbs, feats)
    w = _weights(alphas)
    rgb = [sum(wk * c[i] for wk, c in zip(w, cm)) for i in range(3)]
    bg = cfg.get("background")
    if bg is not None:
        colour = [1.0, 1.0, 1.0] if bg == "white" else list(bg)
        rgb = [rgb[i] + (1 - sum(w)) * colour[i] for i in range(3)]
    return rgb, sum(wk * t for wk, t in zip(w, tm)), sum(w), [sum(wk * f[i] for wk, f in zip(w, fm)) for i in range(4)], \
        w, tm, rm


EG3D = {
    "softplus, importance, white": (Cloud, dict(num_samples=6, num_importance=4, background="white")),
    "relu, colour background": (Cloud, dict(num_samples=5, density_activation="relu", background=(0.1, 0.2, 0.3))),
    "StyleSDF, one importance sample": (lambda: Ball(0.01), dict(num_samples=6, num_importance=1)),
}


@pytest.mark.parametrize("name", list(EG3D))
def test_eg3d_marcher_equals_the_plain_interval_quadrature(name):
    make, cfg = EG3D[name]
    rep, cam = make(), _camera()
    out = VolumeRenderer(near=NEAR, far=FAR, sampling="eg3d", chunk=10, **cfg).eval().render(rep, cam, (3, 4))
    _check(out, cam, 3, 4, lambda b, o, d, p: _eg3d_plain(rep, o, d, cfg))


def test_training_draws_come_from_the_generator_in_order():
    """Train mode, one chunk: the per-sample jitter (B, P, S) then the importance draws (B, P, N) come from the
    generator, as if given."""
    rep, cam = Cloud(), _camera()
    r = VolumeRenderer(5, 3, NEAR, FAR).train()
    out = r.render(rep, cam, (3, 4), generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    u, u_fine = (torch.rand(2, 12, n, generator=g, dtype=torch.float64) for n in (5, 3))
    given = r.render(rep, cam, (3, 4), draws=SampleDraws(u, u_fine))
    assert torch.equal(out.rgb, given.rgb) and torch.equal(out.extras["t"], given.extras["t"])
    assert not torch.equal(out.rgb, r.eval().render(rep, cam, (3, 4)).rgb)


def test_eg3d_training_draws_come_from_the_generator_or_are_given():
    """Train mode: u (B, P, S) then the importance u (B, P, N) drawn from the generator, per chunk; given draws
    replace them."""
    cfg = dict(num_samples=5, num_importance=3)
    rep, cam = Cloud(), _camera()
    r = VolumeRenderer(near=NEAR, far=FAR, sampling="eg3d", **cfg).train()
    out = r.render(rep, cam, (3, 4), generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    u, u_fine = (torch.rand(2, 12, n, generator=g, dtype=torch.float64) for n in (5, 3))
    _check(out, cam, 3, 4, lambda b, o, d, p: _eg3d_plain(rep, o, d, cfg, u[b, p].tolist(), u_fine[b, p].tolist()))
    given = r.render(rep, cam, (3, 4), draws=SampleDraws(u, u_fine))
    torch.testing.assert_close(given.rgb, out.rgb, atol=0, rtol=0)


def test_eg3d_refuses_neus_and_what_it_cannot_render():
    with pytest.raises(ValueError, match=r"^sampling='eg3d' renders density and StyleSDF fields, not NeuS opacities$"):
        VolumeRenderer(4, sampling="eg3d", sdf_mode="neus").eval().render(Ball(60.0), _camera(), (1, 1))
    for kw in (dict(background="plane"), dict(num_samples=2)):
        with pytest.raises(ValueError, match=r"^sampling='eg3d' needs num_samples >= 3 and no background plane$"):
            VolumeRenderer(**{"num_samples": 3, **kw}, sampling="eg3d")
    VolumeRenderer(3, sampling="eg3d")  # three samples are enough
    for kw in (dict(depth_along="axis"), dict(eval_fill_last=True), dict(eval_view_dirs="camera")):
        with pytest.raises(ValueError, match=f"^sampling='eg3d' has EG3D's own .*; {next(iter(kw))} would be ignored$"):
            VolumeRenderer(3, sampling="eg3d", **kw)  # EG3D's marcher does not read these: refused, not dropped


# ---------------------------------------------------------------- the pieces in closed form

def test_ray_slope_is_exact_on_quadratics_and_zero_without_neighbours():
    """v = t^2: central differences give t_k+1 + t_k-1 inside, one-sided t_0 + t_1 and t_-2 + t_-1 at the ends
    (uneven spacing); two samples share one slope; a single sample has none; any leading shape."""
    t = torch.tensor([[0.1, 0.3, 0.35, 0.7, 0.8]], dtype=torch.float64)
    torch.testing.assert_close(ray_slope(t ** 2, t), torch.tensor([[0.4, 0.45, 1.0, 1.15, 1.5]], dtype=torch.float64),
                               atol=1e-14, rtol=0)
    two = torch.tensor([[[0.2, 0.6]]], dtype=torch.float64)
    torch.testing.assert_close(ray_slope(two ** 2, two), torch.tensor([[[0.8, 0.8]]], dtype=torch.float64),
                               atol=1e-14, rtol=0)
    one = torch.tensor([[[0.5]], [[0.25]]], dtype=torch.float64)
    assert torch.equal(ray_slope(one, one), torch.zeros_like(one))


def test_neus_opacity_with_annealing_equals_the_closed_form():
    """c = -(relu(-cos/2 + 1/2)(1 - r) + relu(-cos) r); ends f -+ c dist; alpha = (Phi(f_prev) - Phi(f_next)
    + 1e-5) / (Phi(f_prev) + 1e-5) clamped at 0, with the default r = 1."""
    sdf = torch.tensor([0.02, -0.01, 0.0, 0.05, -0.2], dtype=torch.float64)
    cos = torch.tensor([-0.9, -0.3, 0.4, -1.0, 0.2], dtype=torch.float64)
    before = torch.tensor([0.01, 0.02, 0.015, 0.03, 0.01], dtype=torch.float64)
    after = torch.tensor([0.02, 0.01, 0.005, 0.02, 0.04], dtype=torch.float64)
    s = 50.0
    for r in (0.25, 1.0):
        c = -((0.5 - 0.5 * cos).clamp_min(0) * (1 - r) + (-cos).clamp_min(0) * r)
        prev, nxt = torch.sigmoid((sdf - c * before) * s), torch.sigmoid((sdf + c * after) * s)
        expected = ((prev - nxt + 1e-5) / (prev + 1e-5)).clamp_min(0)
        got = neus_alpha(sdf, cos, before, after, s, r) if r != 1.0 else neus_alpha(sdf, cos, before, after, s)
        torch.testing.assert_close(got, expected, atol=1e-15, rtol=0)
    # far outside and leaving: Phi(f_prev) ~ 5e-5, so the 1e-5 guards matter
    prev, nxt = torch.tensor([-0.2], dtype=torch.float64), torch.tensor([-0.21], dtype=torch.float64)
    p, n = torch.sigmoid(prev * 50), torch.sigmoid(nxt * 50)
    torch.testing.assert_close(neus_alpha_from_ends(prev, nxt, 50.0), (p - n + 1e-5) / (p + 1e-5), atol=1e-15, rtol=0)


def test_stylesdf_density_is_a_scaled_sigmoid():
    d = torch.tensor([-0.02, 0.0, 0.01], dtype=torch.float64)
    a = torch.tensor(0.01, dtype=torch.float64)
    torch.testing.assert_close(stylesdf_density(d, a), torch.tensor([100 / (1 + math.exp(-2)), 50.0,
                                                                      100 / (1 + math.exp(1))], dtype=torch.float64),
                               atol=1e-12, rtol=0)


# ---------------------------------------------------------------- options and their defaults

def test_defaults_are_the_documented_ones():
    r = VolumeRenderer()
    assert (r.num_samples, r.num_importance, r.near, r.far, r.stratified, r.chunk, r.cos_anneal_ratio) == \
        (24, 0, 0.88, 1.12, True, 16384, 1.0)
    assert (r.density_activation, r.sdf_mode, r.background, r.neus_slope, r.jitter, r.spacing, r.intervals,
            r.depth_along, r.importance_bins, r.eval_fill_last, r.eval_view_dirs, r.sampling) == \
        ("softplus", "stylesdf", None, "finite", "stratified", "bins", "sections", "ray", "sections", False,
         "world", "sections")


@pytest.mark.parametrize("kw,message", [
    (dict(sampling="mip"), "sampling must be 'sections' or 'eg3d', not 'mip'"),
    (dict(jitter="random"), "jitter must be 'stratified' or 'offset', not 'random'"),
    (dict(spacing="log"), "spacing must be one of ('bins', 'edges', 'linspace'), not 'log'"),
    (dict(intervals="lengths"), "intervals must be one of ('sections', 'differences'), not 'lengths'"),
    (dict(depth_along="z"), "depth_along must be one of ('ray', 'axis'), not 'z'"),
    (dict(importance_bins="edges"), "importance_bins must be one of ('sections', 'midpoints'), not 'edges'"),
    (dict(eval_view_dirs="image"), "eval_view_dirs must be one of ('world', 'camera'), not 'image'"),
    (dict(density_activation="exp"), "density_activation must be 'softplus' or 'relu', not 'exp'"),
    (dict(sdf_mode="volsdf"), "sdf_mode must be 'stylesdf' or 'neus', not 'volsdf'"),
    (dict(background="black"), "background must be None, 'white', 'plane' or an RGB colour, not 'black'"),
    (dict(neus_slope="exact"), "neus_slope must be 'finite' or 'gradient', not 'exact'"),
])
def test_each_option_is_checked_with_a_message_naming_it(kw, message):
    with pytest.raises(ValueError) as err:
        VolumeRenderer(**kw)
    assert str(err.value) == message
    for good in (dict(jitter="offset"), dict(importance_bins="midpoints"), dict(eval_view_dirs="camera"),
                 dict(spacing="edges"), dict(intervals="differences"), dict(depth_along="axis")):
        VolumeRenderer(**good)
