"""Ray-manifold and ray-plane intersection against plain references: the first downward crossing, the
flat-segment snap to the far sample, the thresholds in the field's units, and the analytic plane hit."""

from __future__ import annotations

import pytest
import torch

from zoo3d.render.intersect import (FLAT_SEGMENT_EPS, _interpolate_hit, first_crossing, flat_segment_thresholds,
                                    intersect_manifolds, intersect_plane_z, sample_depths)

pytestmark = pytest.mark.usefixtures("single_thread")

NEAR, FAR, SAMPLES = 0.88, 1.12, 64


class InstancePlanes:
    """s(x) = k (z - c_b): a different field per instance b (as a latent code makes it); level l is z = c_b + l / k."""

    def __init__(self, levels, k, offsets, dtype=torch.float64):
        self.levels = torch.tensor(levels, dtype=torch.float64)  # float64 whatever the rays: cast by the renderer
        self.k = k
        self.offsets = torch.tensor(offsets, dtype=dtype)

    def scalar(self, x):  # (B, M, 3) -> (B, M)
        return self.k * (x[..., 2] - self.offsets[:, None])


def _rays(dtype=torch.float64):
    """(2, 12, 3) unit rays from z = 1 towards -z, tilted by varying amounts."""
    g = torch.Generator().manual_seed(3)
    origins = torch.zeros(2, 12, 3, dtype=dtype)
    origins[..., :2] = 0.05 * torch.randn(2, 12, 2, generator=g, dtype=dtype)
    origins[..., 2] = 1.0
    dirs = torch.cat([0.3 * torch.randn(2, 12, 2, generator=g, dtype=dtype), -torch.ones(2, 12, 1, dtype=dtype)], -1)
    return origins, dirs / dirs.norm(dim=-1, keepdim=True)


def _plain_first_crossings(rep, origins, dirs, near, far, n):
    """For every ray and level, by loops: the samples t_j = linspace(near, far, n), the first j with
    s_j >= l >= s_j+1, and the far sample t_j+1 (the hit of a flat segment); (far, False) without one."""
    t_s = torch.linspace(near, far, n, dtype=torch.float64)
    B, P, _ = origins.shape
    N = rep.levels.numel()
    t_hit = torch.full((B, N, P), far, dtype=torch.float64)
    valid = torch.zeros(B, N, P, dtype=torch.bool)
    for b in range(B):
        for p in range(P):
            s = [rep.k * (float(origins[b, p, 2] + t * dirs[b, p, 2]) - float(rep.offsets[b])) for t in t_s.tolist()]
            for i, level in enumerate(rep.levels.tolist()):
                for j in range(n - 1):
                    if s[j] >= level >= s[j + 1]:
                        t_hit[b, i, p], valid[b, i, p] = t_s[j + 1], True
                        break
    return t_hit, valid


def test_flat_segments_put_each_hit_on_the_first_sample_past_its_level():
    """|ds| per interval (5 x 0.0038) is below GRAM's 0.05 and the levels are 0.5 apart (relative rule 0.05):
    every hit is the far sample of the first interval where s goes down through the level, exactly; rays
    without a crossing sit at the far end, invalid. Two instances with different fields (grad enabled, so
    s is re-evaluated at the bracketing samples per instance)."""
    rep = InstancePlanes([0.25, -0.25, -0.75], k=5.0, offsets=[0.0, -0.04])
    origins, dirs = _rays()
    points, valid, t = intersect_manifolds(rep, origins, dirs, NEAR, FAR, SAMPLES)
    t_ref, valid_ref = _plain_first_crossings(rep, origins, dirs, NEAR, FAR, SAMPLES)
    assert valid_ref.any() and not valid_ref.all()  # hits and misses
    assert valid_ref[0].sum() != valid_ref[1].sum()  # the two instances differ
    assert torch.equal(valid, valid_ref)
    torch.testing.assert_close(t, t_ref, atol=1e-15, rtol=0)
    torch.testing.assert_close(points, origins[:, None] + t[..., None] * dirs[:, None], atol=1e-15, rtol=0)


def test_steep_fields_interpolate_exactly_per_instance():
    """k = 80: every interval is steep and s linear, so each hit is the plane z = c_b + l / k exactly."""
    rep = InstancePlanes([4.0, 0.0, -4.0], k=80.0, offsets=[0.0, 0.03])
    origins, dirs = _rays()
    points, valid, t = intersect_manifolds(rep, origins, dirs, NEAR, FAR, SAMPLES)
    z = rep.offsets[:, None, None] + rep.levels[None, :, None] / rep.k  # (B, N, 1)
    t_true = (z - origins[:, None, :, 2]) / dirs[:, None, :, 2]
    inside = (t_true > NEAR) & (t_true < FAR)
    assert inside.any() and not inside.all()
    assert torch.equal(valid, inside)
    torch.testing.assert_close(t[inside], t_true[inside], atol=1e-12, rtol=0)
    assert (t[~inside] == FAR).all()


def test_the_defaults_are_grams_64_samples_over_0_88_to_1_12():
    rep = InstancePlanes([0.25, -0.25], k=5.0, offsets=[0.0, 0.02])
    origins, dirs = _rays()
    t_ref, valid_ref = _plain_first_crossings(rep, origins, dirs, 0.88, 1.12, 64)
    _, valid, t = intersect_manifolds(rep, origins, dirs)
    assert torch.equal(valid, valid_ref)
    torch.testing.assert_close(t, t_ref, atol=1e-15, rtol=0)


def test_float32_rays_give_float32_hits_whatever_the_levels_dtype():
    rep = InstancePlanes([4.0, 0.0, -4.0], k=80.0, offsets=[0.0, 0.03], dtype=torch.float32)
    origins, dirs = _rays(torch.float32)
    points, valid, t = intersect_manifolds(rep, origins, dirs, NEAR, FAR, SAMPLES)
    assert t.dtype == points.dtype == torch.float32
    _, valid64, t64 = intersect_manifolds(InstancePlanes([4.0, 0.0, -4.0], 80.0, [0.0, 0.03]),
                                          origins.double(), dirs.double(), NEAR, FAR, SAMPLES)
    assert torch.equal(valid, valid64)
    torch.testing.assert_close(t.double(), t64, atol=1e-5, rtol=0)


def test_sample_depths_are_an_inclusive_linspace_in_the_rays_dtype():
    for dtype in (torch.float32, torch.float64):
        t = sample_depths(0.5, 1.5, 5, torch.zeros(1, dtype=dtype))
        assert t.dtype == dtype
        assert torch.equal(t, torch.tensor([0.5, 0.75, 1.0, 1.25, 1.5], dtype=dtype))


def test_first_crossing_counts_samples_on_the_level_and_only_downward_crossings():
    """s (1, 5, 4) and levels (2,): a sample exactly on a level closes the interval before it; rising
    intervals do not count; without a crossing k = S - 2."""
    s = torch.tensor([[[3.0, 2.0, 1.0, 0.0],    # on level 2 at sample 1: interval 0; level 0.5: interval 2
                       [0.0, 2.5, 1.0, 0.5],    # rises first: level 2 in interval 1, level 0.5 in interval 2
                       [2.0, 1.0, 0.6, 0.55],   # starts on level 2: interval 0; never reaches 0.5
                       [0.0, 0.2, 0.4, 3.0],    # only rises: no crossing
                       [1.0, 0.5, 0.5, 0.0]]])  # reaches 0.5 at sample 1 and stays: interval 0
    first, valid = first_crossing(s, torch.tensor([2.0, 0.5]))
    assert torch.equal(first, torch.tensor([[[0, 2], [1, 2], [0, 2], [2, 2], [2, 0]]]))
    assert torch.equal(valid, torch.tensor([[[True, True], [True, True], [True, False], [False, False],
                                             [False, True]]]))


@pytest.mark.parametrize("num_samples", [16, 300])
def test_first_crossing_is_the_nearest_of_several_crossings(num_samples):
    """Wavy s with several downward crossings of each level per ray: the index is the nearest one, as a
    loop over the intervals finds it (300 samples take the wide weights of the max-based search)."""
    g = torch.Generator().manual_seed(3)
    t = torch.linspace(0, 1, num_samples)
    phase = torch.rand(2, 40, 1, generator=g) * 6.3
    s = torch.sin(6 * 6.3 * t + phase) + 0.3 * torch.randn(2, 40, num_samples, generator=g)
    levels = torch.tensor([0.9, 0.4, 0.0, -0.5, 1.6])
    first, valid = first_crossing(s, levels)
    several = missed = 0
    for b in range(2):
        for r in range(40):
            for n, level in enumerate(levels):
                hits = [k for k in range(num_samples - 1) if s[b, r, k + 1] <= level <= s[b, r, k]]
                assert bool(valid[b, r, n]) == bool(hits)
                assert int(first[b, r, n]) == (hits[0] if hits else num_samples - 2)
                several, missed = several + (len(hits) > 1), missed + (not hits)
    assert several > 100 and missed > 10  # the case that matters is common, and so is a miss


def test_thresholds_follow_the_level_spacing_and_the_representations_own():
    """Relative part: 0.1 x (max - min) / (n - 1), also for two levels and unordered ones."""
    eps, rel = flat_segment_thresholds(torch.tensor([2.0, 0.5, 1.25], dtype=torch.float64))
    assert eps == FLAT_SEGMENT_EPS and float(rel) == pytest.approx(0.075, abs=1e-15)
    eps, rel = flat_segment_thresholds(torch.tensor([3.0, 1.0], dtype=torch.float64))
    assert eps == FLAT_SEGMENT_EPS and float(rel) == pytest.approx(0.2, abs=1e-15)
    assert flat_segment_thresholds(torch.tensor([3.0, 1.0]), rep=object()) == (FLAT_SEGMENT_EPS, pytest.approx(0.2))

    class Own:
        flat_segment_eps = 0.003

    assert flat_segment_thresholds(torch.tensor([3.0, 1.0]), Own()) == (0.003, None)
    assert flat_segment_thresholds(torch.tensor([3.0, 1.0]), Own(), flat_eps=0.02) == (0.02, None)
    assert flat_segment_thresholds(torch.tensor([3.0, 1.0]), None, flat_eps=0.02) == (0.02, None)


def test_the_representations_threshold_reaches_the_intersection():
    """s = z in world units, levels 0.1 apart (relative rule 0.01 > |ds| = 0.0038: flat); a representation
    stating 0.001 gets exact interpolated hits, the default rule gets the far samples."""
    levels = [0.1, 0.0, -0.1]
    origins, dirs = _rays()
    snapped = InstancePlanes(levels, k=1.0, offsets=[0.0, 0.0])
    t_snapped = intersect_manifolds(snapped, origins, dirs)[2]
    t_ref, valid = _plain_first_crossings(snapped, origins, dirs, 0.88, 1.12, 64)
    torch.testing.assert_close(t_snapped, t_ref, atol=1e-15, rtol=0)
    own = InstancePlanes(levels, k=1.0, offsets=[0.0, 0.0])
    own.flat_segment_eps = 0.001
    t_own = intersect_manifolds(own, origins, dirs)[2]
    t_true = (own.levels[None, :, None] - origins[:, None, :, 2]) / dirs[:, None, :, 2]
    assert valid.any()
    torch.testing.assert_close(t_own[valid], t_true[valid], atol=1e-12, rtol=0)
    assert (t_snapped[valid] - t_true[valid]).abs().max() > 1e-3


def test_segments_exactly_at_a_threshold_are_flat():
    """|ds| > eps interpolates, |ds| == eps takes the far sample, for the absolute and the relative part;
    the relative comparison is made in the field's dtype (a float64 spacing does not tip a float32 tie)."""
    one = lambda x, dtype=torch.float64: torch.tensor([x], dtype=dtype)  # noqa: E731
    valid = torch.tensor([True])
    args = (one(1.0), one(0.75), one(0.25), one(0.5))  # s_lo, s_hi, t_lo, t_hi: |ds| = 0.25, level 0.875 -> t 0.375
    assert _interpolate_hit(*args, one(0.875), 0.25, valid).item() == 0.5
    assert _interpolate_hit(*args, one(0.875), 0.2, valid).item() == 0.375
    assert _interpolate_hit(*args, one(0.875), 1.0, valid, one(0.25)).item() == 0.5
    assert _interpolate_hit(*args, one(0.875), 1.0, valid, one(0.125)).item() == 0.375
    assert _interpolate_hit(*args, one(0.875), 0.2, torch.tensor([False])).item() == 0.5  # no crossing: far sample
    f32 = torch.float32
    s_lo, s_hi = one(0.1, f32), one(0.0, f32)  # |ds| = float32(0.1) > float64(0.1)
    t = _interpolate_hit(s_lo, s_hi, one(0.0, f32), one(1.0, f32), one(0.05, f32), 1.0, valid, one(0.1))
    assert t.item() == 1.0


def test_plane_hits_are_analytic_and_only_in_front_of_the_origin():
    """Rays against z = 0.2: a tilted hit at t = 1, straight down, away from the plane, parallel to it
    (below it), starting on it, and |d_z| at the 1e-12 threshold and just above it."""
    o = torch.tensor([[[0.0, 0.0, 1.0], [0.3, 0.1, 0.7], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.5, 0.0, 0.2],
                       [0.0, 0.0, 0.4], [0.0, 0.0, 0.4]]], dtype=torch.float64)
    d = torch.tensor([[[0.6, 0.0, -0.8], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0],
                       [1.0, 0.0, -1e-12], [1.0, 0.0, -2e-12]]], dtype=torch.float64)
    t, hit = intersect_plane_z(o, d, 0.2)
    assert hit.tolist() == [[True, True, False, False, False, False, True]]
    torch.testing.assert_close(t, torch.tensor([[1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.2 / 2e-12]], dtype=torch.float64),
                               atol=1e-12, rtol=1e-12)


class CurvedInstancePlanes(InstancePlanes):
    """s(x) = k (z - c_b) + q (x^2 + y^2) with k and q learnable: the hits move with both."""

    def __init__(self, levels, k, q, offsets):
        super().__init__(levels, k, offsets)
        self.k = torch.tensor(k, dtype=torch.float64, requires_grad=True)
        self.q = torch.tensor(q, dtype=torch.float64, requires_grad=True)
        self.queries: list[tuple[int, bool]] = []  # (points, with a graph) per call

    def scalar(self, x):
        self.queries.append((x.shape[0] * x.shape[1], torch.is_grad_enabled()))
        return self.k * (x[..., 2] - self.offsets[:, None]) + self.q * (x[..., :2] ** 2).sum(-1)


@pytest.mark.parametrize("samples", [8, 16], ids=["graph_over_samples", "graph_over_brackets"])
def test_hit_gradients_match_finite_differences_on_either_graph(samples):
    """5 levels: 8 samples (<= 2N) build the graph over the samples in one pass, 16 (> 2N) search without a
    graph and re-evaluate the 10 bracketing points. Either way d(hits)/d(k, q) is the interpolation's,
    checked against central differences of the graph-free hits (the brackets do not move for a 1e-7 step)."""
    rep = CurvedInstancePlanes([6.0, 3.0, 0.0, -3.0, -6.0], k=40.0, q=3.0, offsets=[0.0, 0.02])
    origins, dirs = _rays()
    weights = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def loss():
        _, valid, t = intersect_manifolds(rep, origins, dirs, NEAR, FAR, samples)
        return (weights * t * valid).sum(), valid

    value, valid = loss()
    assert valid.float().mean() > 0.5
    value.backward()
    for param in (rep.k, rep.q):
        with torch.no_grad():
            param += 1e-7
            up, _ = loss()
            param -= 2e-7
            down, _ = loss()
            param += 1e-7
        assert param.grad.abs() > 1e-3
        torch.testing.assert_close(param.grad, (up - down) / 2e-7, rtol=1e-5, atol=1e-9)


def test_the_graph_is_built_over_the_fewer_points():
    """With S <= 2N one pass over the B P S samples carries the graph; with S > 2N a graph-free search over
    them, then a graph over the B P 2N bracketing points only; without grad, one graph-free pass. N = 5:
    S = 10 is the last one-pass case, S = 12 the first two-pass one."""
    origins, dirs = _rays()
    for samples in (8, 10, 12, 16):
        one_pass = [(2 * 12 * samples, True)]
        expected = one_pass if samples <= 10 else [(2 * 12 * samples, False), (2 * 12 * 10, True)]
        rep = CurvedInstancePlanes([6.0, 3.0, 0.0, -3.0, -6.0], k=40.0, q=3.0, offsets=[0.0, 0.02])
        intersect_manifolds(rep, origins, dirs, NEAR, FAR, samples)
        assert rep.queries == expected
        rep.queries.clear()
        with torch.no_grad():
            intersect_manifolds(rep, origins, dirs, NEAR, FAR, samples)
        assert rep.queries == [(2 * 12 * samples, False)]
