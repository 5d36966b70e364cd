"""ManifoldRenderer's options against per-ray loops written with Python floats.

The loop takes every layer of a ray (the N manifold hits and the background plane's), sorts them by distance
and composites them with GRAM's convention, T <- T (1 - alpha + 1e-10). Hits are injected (any order along
the ray, any validity) or the renderer's own; the background plane is hit, missed or upsampled; features come
from the manifolds, the background, both or neither; sparse shading's opaque cut is applied group by group.
"""

from __future__ import annotations

import math

import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.core.representation import Radiance
from zoo3d.render import ManifoldRenderer
from zoo3d.render.intersect import intersect_manifolds
from zoo3d.render.manifold import NO_GRAD_CHUNK, SPARSE_GROUP, resolve_resolution

F64 = torch.float64
BG_Z = -0.12


class Layers:
    """N manifolds s(x) = k z (planes) with one alpha, colour and feature vector each, and an optional opaque
    background plane z = background_z (without one, no ``background_z`` attribute at all: it is optional);
    records the rays of every radiance call."""

    def __init__(self, alphas, features="both", background_z=BG_Z, plane_z=None, levels_dtype=F64):
        n = len(alphas)
        g = torch.Generator().manual_seed(n)
        self.k = 80.0
        self.alphas = torch.tensor(alphas, dtype=F64)
        self.colours = torch.rand(n, 3, generator=g, dtype=F64)
        self.fg_features = torch.randn(n, 2, generator=g, dtype=F64) if features in ("both", "fg") else None
        self.bg_rgb = torch.tensor([0.2, 0.3, 0.9], dtype=F64)
        self.bg_features = torch.tensor([0.5, -1.5], dtype=F64) if features in ("both", "bg") else None
        if background_z is not None:
            self.background_z = background_z
        plane_z = plane_z if plane_z is not None else [0.05 - 0.03 * i for i in range(n)]
        self.levels = (torch.tensor(plane_z, dtype=F64) * self.k).to(levels_dtype)
        self.calls: list[int] = []

    def scalar(self, x):
        return self.k * x[..., 2]

    def radiance(self, points, dirs):
        B, N, P, _ = points.shape
        self.calls.append(P)
        f = None if self.fg_features is None else self.fg_features[None, :, None].expand(B, N, P, 2)
        return Radiance(rgb=self.colours[None, :, None].expand(B, N, P, 3),
                        alpha=self.alphas[None, :, None, None].expand(B, N, P, 1), features=f)

    def background_radiance(self, points, dirs):
        shape = points.shape[:-1]
        f = None if self.bg_features is None else self.bg_features.expand(*shape, 2)
        return Radiance(rgb=self.bg_rgb.expand(*shape, 3), features=f)


class SparseLayers(Layers):
    """The same scene, also answering ``radiance_at`` (layer N = the background); records what it is asked."""

    def __init__(self, *args, answer_dtype=F64, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked, self.empty_calls, self.answer_dtype = 0, 0, answer_dtype

    def radiance_at(self, points, dirs, layers):
        self.asked += layers.numel()
        self.empty_calls += layers.numel() == 0
        rgb = torch.cat([self.colours, self.bg_rgb[None]])[layers]
        alpha = torch.cat([self.alphas, self.alphas.new_ones(1)])[layers].unsqueeze(-1)
        features = None
        if self.fg_features is not None or self.bg_features is not None:
            fg = self.fg_features if self.fg_features is not None else torch.zeros(len(self.alphas), 2, dtype=F64)
            bg = self.bg_features if self.bg_features is not None else torch.zeros(2, dtype=F64)
            features = torch.cat([fg, bg[None]])[layers].to(self.answer_dtype)
        return Radiance(rgb=rgb.to(self.answer_dtype), alpha=alpha.to(self.answer_dtype), features=features)


class Spheres(torch.nn.Module):
    """Concentric spheres s = k |x - c_b| around one centre per instance, colour and features varying with the
    point, an optional background plane."""

    def __init__(self, radii, centres, alpha=0.5, background_z=None):
        super().__init__()
        self.k = 80.0
        self.centres = torch.nn.Parameter(torch.tensor(centres, dtype=F64))  # (B, 3)
        self.levels = torch.tensor(radii, dtype=F64) * self.k
        self.alpha, self.background_z = alpha, background_z

    def scalar(self, x):  # x (B, Q, 3)
        return self.k * (x - self.centres[:, None]).norm(dim=-1)

    def radiance(self, points, dirs):
        return Radiance(rgb=0.5 + 0.5 * torch.sin(40 * points), alpha=torch.full_like(points[..., :1], self.alpha),
                        features=10 * points[..., :2])

    def background_radiance(self, points, dirs):
        return Radiance(rgb=0.5 + 0.5 * torch.cos(30 * points), features=-points[..., :2])


def _cameras():
    """A camera whose rays all hit the background plane and one looking along x, half of whose rays miss it."""
    return Camera.from_angles([0.2, math.pi / 2], [0.1, 0.0], 1.0, 12.0, dtype=F64)


def _injected_hits(cams, n, H, W, seed=0, invalid_rays=0):
    """Points at random distances in [0.9, 1.1] along each ray (so layers come in any order), random validity;
    the first ``invalid_rays`` rays have no valid hit."""
    g = torch.Generator().manual_seed(seed)
    o, d = cams.rays(H, W)
    t = 0.9 + 0.2 * torch.rand(len(cams), n, H * W, generator=g, dtype=F64)
    points = o[:, None] + t[..., None] * d[:, None]
    valid = torch.rand(len(cams), n, H * W, generator=g) < 0.7
    valid[:, :, :invalid_rays] = False
    return points, valid


def loop_render(rep, o, d, points, valid, *, bg_points=None, white=False, cut=0.0):
    """The renderer's outputs ray by ray: o, d (B, P, 3), points (B, N, P, 3), valid (B, N, P); ``bg_points``
    (B, P, 3) replace the background plane's own hits; ``cut``: layers of a group of SPARSE_GROUP whose
    transmittance at the group's start is below it get alpha 0."""
    B, N, P, _ = points.shape
    rad = rep.radiance(points, d.unsqueeze(1).expand(B, N, P, 3))
    bg = None
    bg_z = getattr(rep, "background_z", None)
    if bg_z is not None:
        o_, d_ = o.tolist(), d.tolist()
        hit = [[d_[b][p][2] != 0 and (bg_z - o_[b][p][2]) / d_[b][p][2] > 0 for p in range(P)]
               for b in range(B)]
        t_bg = [[(bg_z - o_[b][p][2]) / d_[b][p][2] if hit[b][p] else 0.0 for p in range(P)]
                for b in range(B)]
        p_bg = [[[o_[b][p][i] + t_bg[b][p] * d_[b][p][i] for i in range(3)] for p in range(P)] for b in range(B)]
        if bg_points is not None:
            p_bg = bg_points.tolist()
        bg = rep.background_radiance(torch.tensor(p_bg, dtype=F64), d)
    fg_f, bg_f = rad.features, None if bg is None else bg.features
    C = next((f.shape[-1] for f in (fg_f, bg_f) if f is not None), 0)
    out = {k: [] for k in ("rgb", "depth", "alpha", "foreground_depth", "features", "weights", "points", "valid",
                           "layer")}
    for b in range(B):
        for p in range(P):
            ob = o[b, p].tolist()
            layers = []  # (t, layer, point, valid, alpha, rgb, features)
            for n in range(N):
                pt = points[b, n, p].tolist()
                f = fg_f[b, n, p].tolist() if fg_f is not None else [0.0] * C
                layers.append((math.dist(pt, ob), n, pt, bool(valid[b, n, p]), float(rad.alpha[b, n, p, 0]),
                               rad.rgb[b, n, p].tolist(), f))
            if bg is not None:
                pt = p_bg[b][p]
                f = bg_f[b, p].tolist() if bg_f is not None else [0.0] * C
                layers.append((math.dist(pt, ob) if hit[b][p] else math.inf, N, pt, hit[b][p], 1.0,
                               bg.rgb[b, p].tolist(), f))
            layers.sort(key=lambda layer: layer[0])
            T, rgb, depth, acc, fg, feats, weights, shaded = 1.0, [0.0] * 3, 0.0, 0.0, 0.0, [0.0] * C, [], True
            fg_depth = 0.0
            for k, (t, n, pt, v, a, c, f) in enumerate(layers):
                if k % SPARSE_GROUP == 0:
                    shaded = T >= cut
                a = a if v and shaded else 0.0
                w = a * T
                T *= 1.0 - a + 1e-10
                weights.append(w)
                rgb = [x + w * y for x, y in zip(rgb, c)]
                depth += w * (t if math.isfinite(t) else 0.0)
                acc += w
                fg += w if n < N else 0.0
                fg_depth += w * t if n < N else 0.0  # the surface's own depth sum: no background plane
                feats = [x + w * y for x, y in zip(feats, f)]
            if white:
                rgb = [x + 1.0 - acc for x in rgb]
            for key, value in (("rgb", rgb), ("depth", [depth]), ("alpha", [fg]), ("foreground_depth", [fg_depth]),
                               ("features", feats),
                               ("weights", weights), ("points", [x[2] for x in layers]),
                               ("valid", [x[3] for x in layers]), ("layer", [x[1] for x in layers])):
                out[key].append(value)
    return out


def assert_matches_loop(out, ref, B, H, W, atol=1e-12):
    """Compare a RenderOutput with loop_render's per-ray lists."""
    def image(key):  # per-ray (C,) lists -> (B, C, H, W)
        return torch.tensor(ref[key], dtype=F64).reshape(B, H, W, -1).permute(0, 3, 1, 2)

    def layered(key, dtype=F64):  # per-ray (K, ...) lists -> (B, K, H, W, ...)
        x = torch.tensor(ref[key], dtype=dtype)
        return x.reshape(B, H, W, *x.shape[1:]).movedim(3, 1)

    assert torch.allclose(out.rgb, 2 * image("rgb") - 1, atol=2 * atol, rtol=0)
    for key in ("depth", "alpha"):
        assert torch.allclose(getattr(out, key), image(key), atol=atol, rtol=0), key
    assert torch.allclose(out.extras["foreground_depth"], image("foreground_depth"), atol=atol, rtol=0)
    if len(ref["features"][0]):
        assert torch.allclose(out.features, image("features"), atol=atol, rtol=0)
    else:
        assert out.features is None
    assert torch.allclose(out.weights, layered("weights"), atol=atol, rtol=0)
    assert torch.allclose(out.points, layered("points"), atol=atol, rtol=0)
    assert torch.equal(out.extras["valid"], layered("valid", torch.bool))
    assert torch.equal(out.extras["layer_index"], layered("layer", torch.long))


# ---------------------------------------------------------------------------------------------- compositing


@pytest.mark.parametrize("sparse, features, background, white", [
    (False, "both", BG_Z, False), (False, "fg", BG_Z, False), (False, "bg", BG_Z, False), (False, "none", BG_Z, False),
    (False, "fg", None, True), (False, "none", None, False),
    (True, "both", BG_Z, False), (True, "fg", None, True), (True, "bg", BG_Z, False), (True, "none", BG_Z, False),
])
def test_injected_hits_composite_like_a_per_ray_loop(sparse, features, background, white):
    """Layers in any order along the ray, invalid hits, a background plane some rays miss (it then weighs 0,
    sorts last and sits at the ray's origin), missing features (zeros), GRAM's white background."""
    rep = (SparseLayers if sparse else Layers)([0.4, 0.7, 0.25, 0.55], features, background)
    cams = _cameras()
    H, W = 4, 6
    points, valid = _injected_hits(cams, 4, H, W, invalid_rays=5)  # a sparse chunk of 5 rays that queries nothing
    renderer = ManifoldRenderer(chunk=10, white_background=white)
    with torch.no_grad():
        out = renderer.render(rep, cams, (H, W), intersections=(points, valid))
    dense_calls = list(rep.calls)
    o, d = cams.rays(H, W)
    ref = loop_render(rep, o, d, points, valid, white=white)
    assert_matches_loop(out, ref, 2, H, W)
    assert out.normals is None  # not asked for
    if background is not None:
        bg_valid = out.extras["valid"] & (out.extras["layer_index"] == 4)
        assert 0 < int(bg_valid.sum()) < H * W * 2  # the horizontal camera misses the plane with some rays
    if sparse:
        assert rep.asked > 0 and dense_calls == []  # shaded through radiance_at only
        assert rep.empty_calls == 0  # a group with nothing to shade asks nothing


@pytest.mark.parametrize("cut", [0.3, 0.05])
def test_sparse_shading_stops_a_ray_group_by_group_below_the_cut(cut):
    """Transmittance is checked before each group of SPARSE_GROUP layers: a group that starts below the cut is
    not shaded (the background plane included), one that starts above it is shaded whole."""
    alphas = [0.5, 0.6, 0.5, 0.7, 0.4, 0.5, 0.6]
    rep, dense = SparseLayers(alphas), Layers(alphas)
    cams = _cameras()[0]  # one instance: radiance_at is asked about exactly the shaded layers (no padding)
    points, valid = _injected_hits(cams, len(alphas), 5, 5, seed=3)
    o, d = cams.rays(5, 5)
    with torch.no_grad():
        out = ManifoldRenderer(opaque_transmittance=cut).render(rep, cams, (5, 5), intersections=(points, valid))
        full = ManifoldRenderer(opaque_transmittance=cut).render(dense, cams, (5, 5), intersections=(points, valid))
    ref = loop_render(rep, o, d, points, valid, cut=cut)
    assert_matches_loop(out, ref, 1, 5, 5)
    shaded = sum(1 for ray_w, ray_v in zip(ref["weights"], ref["valid"]) for w, v in zip(ray_w, ray_v) if w > 0)
    assert rep.asked == shaded < int(valid.sum()) + 25  # the plane is hit by all 25 rays
    assert (out.rgb - full.rgb).abs().max() > 1e-3  # the dense path shades everything (the cut is sparse-only)


def test_a_ray_whose_transmittance_equals_the_cut_is_still_shaded():
    """The cut is "below": a group that starts with T exactly at it is shaded. One ray per chunk, so the
    background plane's group holds a single query."""
    rep = SparseLayers([0.5] * SPARSE_GROUP)
    cams = _cameras()[0]
    o, d = cams.rays(2, 2)
    t = torch.tensor([0.9 + 0.03 * n for n in range(SPARSE_GROUP)], dtype=F64)[None, :, None, None]
    points = o[:, None] + t * d[:, None]
    valid = torch.ones(1, SPARSE_GROUP, 4, dtype=torch.bool)
    T = 1.0
    for _ in range(SPARSE_GROUP):
        T *= 1.0 - 0.5 + 1e-10
    with torch.no_grad():
        out = ManifoldRenderer(chunk=1, opaque_transmittance=T).render(rep, cams, (2, 2), intersections=(points, valid))
    assert_matches_loop(out, loop_render(rep, o, d, points, valid, cut=T), 1, 2, 2)
    assert rep.asked == 4 * (SPARSE_GROUP + 1)  # every layer of every ray, the background included


def test_sparse_shading_takes_radiance_in_a_lower_precision():
    """A representation answering in float32 (e.g. under autocast) for float64 geometry: the answers are cast
    to the geometry's dtype and composited there."""
    rep = SparseLayers([0.4, 0.7, 0.25, 0.55], "both", answer_dtype=torch.float32)
    cams = _cameras()
    points, valid = _injected_hits(cams, 4, 4, 6, seed=4)
    with torch.no_grad():
        out = ManifoldRenderer(chunk=10).render(rep, cams, (4, 6), intersections=(points, valid))
    assert out.rgb.dtype == out.features.dtype == F64
    o, d = cams.rays(4, 6)
    assert_matches_loop(out, loop_render(rep, o, d, points, valid), 2, 4, 6, atol=1e-6)


def test_the_renderers_own_hits_use_its_samples_and_range():
    """A renderer with 40 samples in [0.92, 1.1] renders the hits intersect_manifolds finds with those settings
    (on these spheres they differ from those of 64 samples, and from those of the range [0.88, 1.1])."""
    rep = Spheres([0.11, 0.06, 0.03], [[0.0, 0.0, -0.02], [0.01, -0.01, -0.01]], background_z=BG_Z)
    cams = Camera.from_angles([0.25, -0.2], [0.1, -0.15], 1.0, 12.0, dtype=F64)
    H, W = 6, 5
    o, d = cams.rays(H, W)
    with torch.no_grad():
        out = ManifoldRenderer(40, 0.92, 1.1).render(rep, cams, (H, W))
        points, valid, _ = intersect_manifolds(rep, o, d, 0.92, 1.1, 40)
        default, _, _ = intersect_manifolds(rep, o, d, 0.92, 1.1)
        wider = intersect_manifolds(rep, o, d, 0.88, 1.1, 40)[1]
    assert_matches_loop(out, loop_render(rep, o, d, points, valid), 2, H, W, atol=1e-10)
    assert ((points - default).norm(dim=-1)[valid] > 1e-7).any() and not torch.equal(valid, wider)


def test_normals_are_unit_gradients_of_s_and_the_background_faces_up():
    """layer normals: grad s / |grad s| at manifold hits (here (x - c_b) / |x - c_b|), (0, 0, 1) on the
    background plane; the image normal is the normalised weighted sum. Sparse-capable scenes are shaded
    densely when normals are asked for."""
    centres = [[0.0, 0.0, -0.02], [0.02, -0.01, -0.03]]
    rep = Spheres([0.09, 0.06, 0.04], centres, background_z=BG_Z)
    rep.radiance_at = None  # present: the normals still need the dense path
    cams = Camera.from_angles([0.25, -0.2], [0.1, -0.15], 1.0, 12.0, dtype=F64)
    out = ManifoldRenderer(compute_normals=True).render(rep, cams, (5, 5))
    n, pts, layer = out.extras["layer_normals"], out.points.detach(), out.extras["layer_index"]
    c = torch.tensor(centres, dtype=F64)[:, None, None, None]
    radial = torch.nn.functional.normalize(pts - c, dim=-1)
    fg, bg = layer < 3, layer == 3
    assert torch.allclose(n[fg], radial[fg], atol=1e-12, rtol=0)
    assert torch.equal(n[bg], torch.tensor([0.0, 0.0, 1.0], dtype=F64).expand(int(bg.sum()), 3))
    total = (out.weights.unsqueeze(-1) * n).sum(1)
    expected = total / total.norm(dim=-1, keepdim=True)
    assert torch.allclose(out.normals, expected.permute(0, 3, 1, 2), atol=1e-12, rtol=0)
    # with a graph, the normals differentiate like the formula at the (fixed) hit points
    v = torch.randn(n.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    (got,) = torch.autograd.grad((n * v)[fg].sum(), rep.centres)
    formula = torch.nn.functional.normalize(pts - rep.centres[:, None, None, None], dim=-1)
    (want,) = torch.autograd.grad((formula * v)[fg].sum(), rep.centres)
    assert want.abs().max() > 0 and torch.allclose(got, want, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------------------------------- HR rendering


def _bilinear_axis(i, n_in, n_out, align_corners):
    """torch's bilinear source position of output index i: (i0, i1, fraction)."""
    if align_corners:
        x = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        x = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = min(int(x), n_in - 1)
    return i0, min(i0 + 1, n_in - 1), x - i0


def _bilinear_loop(grid, H, W, align_corners):
    """grid: nested lists [h][w] of value lists -> [H][W] of value lists."""
    h, w = len(grid), len(grid[0])
    out = []
    for i in range(H):
        r0, r1, fr = _bilinear_axis(i, h, H, align_corners)
        row = []
        for j in range(W):
            c0, c1, fc = _bilinear_axis(j, w, W, align_corners)
            row.append([(1 - fr) * ((1 - fc) * grid[r0][c0][k] + fc * grid[r0][c1][k])
                        + fr * ((1 - fc) * grid[r1][c0][k] + fc * grid[r1][c1][k]) for k in range(len(grid[0][0]))])
        out.append(row)
    return out


def _upsampled(x, h, w, H, W, align_corners):
    """(B, N, h*w, C) -> (B, N, H*W, C) with the bilinear loop."""
    B, N = x.shape[:2]
    rows = [[_bilinear_loop(x[b, n].reshape(h, w, -1).tolist(), H, W, align_corners) for n in range(N)]
            for b in range(B)]
    return torch.tensor(rows, dtype=F64).reshape(B, N, H * W, -1)


@pytest.mark.parametrize("align", [False, True])
def test_hr_rendering_shades_bilinearly_upsampled_hits(align):
    """LR hits (3 x 4) upsampled to 6 x 10: points bilinearly, validity bilinearly then thresholded at > 0.99."""
    rep = Layers([0.4, 0.6], "fg", background_z=None)
    cams = _cameras()
    (h, w), (H, W) = (3, 4), (6, 10)
    points, valid = _injected_hits(cams, 2, h, w, seed=1)
    with torch.no_grad():
        out = ManifoldRenderer(upsample_align_corners=align, upsample_background=True).render(  # no plane: no-op
            rep, cams, (H, W), intersection_resolution=(h, w), intersections=(points, valid))
    up = _upsampled(points, h, w, H, W, align)
    up_valid = _upsampled(valid.to(F64)[..., None], h, w, H, W, align)[..., 0]
    assert ((up_valid > 0.5) & (up_valid < 0.99)).any() and (up_valid > 0.99).any()
    o, d = cams.rays(H, W)
    assert_matches_loop(out, loop_render(rep, o, d, up, up_valid > 0.99), 2, H, W)


def test_hr_rendering_intersects_at_the_low_resolution_itself():
    rep = Spheres([0.09, 0.05], [[0.0, 0.0, -0.02], [0.01, 0.0, -0.02]], background_z=BG_Z)
    cams = Camera.from_angles([0.25, -0.2], [0.1, -0.15], 1.0, 12.0, dtype=F64)
    renderer = ManifoldRenderer(48, 0.9, 1.1, chunk=7)
    with torch.no_grad():
        hits = renderer.intersect(rep, cams, (4, 3))
        o, d = cams.rays(4, 3)
        assert all(torch.equal(a, b) for a, b in zip(hits, intersect_manifolds(rep, o, d, 0.9, 1.1, 48)[:2]))
        own = renderer.render(rep, cams, (8, 6), intersection_resolution=(4, 3))
        given = renderer.render(rep, cams, (8, 6), intersection_resolution=(4, 3), intersections=hits)
        same = renderer.render(rep, cams, (8, 6), intersection_resolution=(8, 6))
        plain = renderer.render(rep, cams, (8, 6))
    for key in ("rgb", "depth", "features", "weights", "points"):
        assert torch.equal(getattr(own, key), getattr(given, key))
        assert torch.equal(getattr(same, key), getattr(plain, key))
    assert (own.points - plain.points).abs().max() > 1e-4  # upsampled hits are not the HR rays' own


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("align", [False, True])
def test_upsampled_background_hits_are_the_lr_plane_hits_bilinearly_upsampled(sparse, align):
    """GRAM-HD: the LR rays' plane hits, upsampled, stand for the background points; the distance is measured
    from the HR ray's origin; the HR ray's own hit mask stays. Without the option the plane is hit exactly.
    ``align`` also casts the rays on GRAM's pixel grid (``align_corners``), at both resolutions."""
    rep = (SparseLayers if sparse else Layers)([0.4, 0.6], "both")
    cams = _cameras()
    (h, w), (H, W) = (3, 4), (6, 10)
    points, valid = _injected_hits(cams, 2, h, w, seed=2)
    o_lr, d_lr = cams.rays(h, w, align_corners=align)
    t_lr = (BG_Z - o_lr[..., 2]) / d_lr[..., 2]  # the misses' hits are those at t = 0: the origin
    lr_bg = o_lr + torch.where(t_lr > 0, t_lr, torch.zeros_like(t_lr))[..., None] * d_lr
    o, d = cams.rays(H, W, align_corners=align)
    bg_up = _upsampled(lr_bg[:, None], h, w, H, W, align)[:, 0]
    up = _upsampled(points, h, w, H, W, align)
    up_valid = _upsampled(valid.to(F64)[..., None], h, w, H, W, align)[..., 0] > 0.99
    for upsample_background, bg_points in ((True, bg_up), (False, None)):
        with torch.no_grad():
            out = ManifoldRenderer(upsample_align_corners=align, align_corners=align,
                                   upsample_background=upsample_background).render(
                rep, cams, (H, W), intersection_resolution=(h, w), intersections=(points, valid))
        ref = loop_render(rep, o, d, up, up_valid, bg_points=bg_points)
        assert_matches_loop(out, ref, 2, H, W)
    assert (bg_up - (o + ((BG_Z - o[..., 2]) / d[..., 2])[..., None] * d)).abs().max() > 1e-4


# ---------------------------------------------------------------------------------------------- plumbing


def test_rays_go_through_in_chunks_of_the_bound_summed_over_the_batch():
    cams = _cameras()
    for chunk, sizes in ((10, [5] * 7 + [1]), (1, [1] * 36), (100, [36])):
        rep = Layers([0.5, 0.5], "none")
        ManifoldRenderer(chunk=chunk).render(rep, cams, (6, 6))
        assert rep.calls == sizes, chunk
    rep = Layers([0.5], "none", plane_z=[0.0])
    one = cams[0]
    ManifoldRenderer(chunk=10 ** 6).render(rep, one, (91, 91))
    with torch.no_grad():
        ManifoldRenderer(chunk=10 ** 6).render(rep, one, (91, 91))
        ManifoldRenderer(chunk=50).render(rep, one, (9, 9))
    assert rep.calls == [91 * 91, NO_GRAD_CHUNK, 91 * 91 - NO_GRAD_CHUNK, 50, 31]


def test_intersect_goes_through_rays_in_chunks():
    class Counting(Layers):
        def scalar(self, x):
            self.calls.append(x.shape[1] // 16)
            return super().scalar(x)

    cams = _cameras()
    for chunk, sizes, align in ((10, [5] * 7 + [1], False), (1, [1] * 36, True)):
        rep = Counting([0.5, 0.5], "none")
        renderer = ManifoldRenderer(16, chunk=chunk, align_corners=align)
        with torch.no_grad():
            hits = renderer.intersect(rep, cams, (6, 6))
            o, d = cams.rays(6, 6, align_corners=align)
            whole = intersect_manifolds(rep, o, d, 0.88, 1.12, 16)
        assert rep.calls[:len(sizes)] == sizes
        assert torch.equal(hits[0], whole[0]) and torch.equal(hits[1], whole[1])


def test_cameras_take_the_representations_dtype_unless_its_levels_are_integers():
    cams = _cameras()
    points_rep = Layers([0.4, 0.6], "both", plane_z=[0.05, -0.0375])  # levels 4 and -3
    with torch.no_grad():
        cams32 = cams.to(dtype=torch.float32)
        ref = ManifoldRenderer().render(points_rep, cams32.to(dtype=F64), (5, 4))
        from32 = ManifoldRenderer().render(points_rep, cams32, (5, 4))
        hits32 = ManifoldRenderer().intersect(points_rep, cams32, (5, 4))
        hits = ManifoldRenderer().intersect(points_rep, cams32.to(dtype=F64), (5, 4))
        integer = Layers([0.4, 0.6], "both", plane_z=[0.05, -0.0375], levels_dtype=torch.long)
        int_out = ManifoldRenderer().render(integer, cams32, (5, 4))
        int_hits = ManifoldRenderer().intersect(integer, cams32, (5, 4))
    for key in ("rgb", "depth", "features", "weights", "points"):
        assert torch.equal(getattr(from32, key), getattr(ref, key)), key
    assert torch.equal(hits32[0], hits[0]) and torch.equal(hits32[1], hits[1])
    assert int_out.points.dtype == int_hits[0].dtype == torch.float32  # the cameras' own dtype
    assert torch.allclose(int_hits[0], hits[0].float(), atol=1e-5, rtol=0)
    assert torch.allclose(int_out.points, ref.points.float(), atol=1e-5, rtol=0)


def test_the_resolution_comes_from_the_call_or_the_cameras():
    cams = _cameras()
    assert resolve_resolution(7, cams) == (7, 7)
    assert resolve_resolution((3.0, 5), cams) == (3, 5)
    with_res = Camera(cams.cam2world, cams.intrinsics, resolution=(4, 6))
    assert resolve_resolution(None, with_res) == (4, 6)
    with pytest.raises(ValueError) as err:
        resolve_resolution(None, cams)
    assert str(err.value) == "render needs a resolution: pass one or set Camera.resolution"
    rep = Layers([0.4, 0.6], "none")
    with torch.no_grad():
        out = ManifoldRenderer().render(rep, with_res)
        hits = ManifoldRenderer().intersect(rep, with_res, None)
    o, d = cams.rays(4, 6)
    assert out.rgb.shape == (2, 3, 4, 6)
    lead = out.points[0, 0]  # the first camera's nearest plane hits, row-major from the top left
    t = (0.05 - o[0, :, 2]) / d[0, :, 2]
    assert torch.allclose(lead.reshape(24, 3), o[0] + t[..., None] * d[0], atol=1e-12, rtol=0)
    assert hits[0].shape == (2, 2, 24, 3)


def test_construction_needs_two_samples_and_defaults_to_grams_settings():
    with pytest.raises(ValueError) as err:
        ManifoldRenderer(num_samples=1)
    assert str(err.value) == "ManifoldRenderer needs at least 2 samples per ray"
    r = ManifoldRenderer(num_samples=2)
    assert r.num_samples == 2
    d = ManifoldRenderer()
    assert (d.num_samples, d.near, d.far) == (64, 0.88, 1.12)  # GRAM FFHQ
    assert not (d.compute_normals or d.upsample_align_corners or d.align_corners or d.white_background
                or d.upsample_background)
    assert d.opaque_transmittance == 1e-6
