"""The manifold renderer's flat-segment snap: scale-free below GRAM's level spacing, GRAM's own rule at it."""

from __future__ import annotations

import pytest
import torch

from zoo3d.render.intersect import FLAT_SEGMENT_EPS, _interpolate_hit, flat_segment_thresholds, intersect_manifolds


class Planes:
    """s = z in world units: it falls along rays travelling towards -z, and level l is the plane z = l."""

    def __init__(self, levels):
        self.levels = levels

    def scalar(self, x):
        return x[..., 2]


def _rays(n=5, dtype=torch.float64):
    origins = torch.zeros(1, n, 3, dtype=dtype)
    origins[..., 0] = torch.linspace(-0.02, 0.02, n, dtype=dtype)
    origins[..., 2] = 1.0
    dirs = torch.zeros(1, n, 3, dtype=dtype)
    dirs[..., 2] = -1.0
    return origins, dirs


def test_a_field_in_world_units_gets_its_surfaces_where_they_are():
    """s = z (world units), levels 0.01 apart, 16 samples 0.016 apart: GRAM's absolute 0.05 snapped every hit
    to the far sample (up to 0.016 off); the spacing-relative rule interpolates them exactly (s is linear)."""
    levels = torch.linspace(0.05, -0.05, 11, dtype=torch.float64)
    rep = Planes(levels)
    origins, dirs = _rays()
    points, valid, t = intersect_manifolds(rep, origins, dirs, 0.88, 1.12, 16)
    assert valid.all()
    exact = (1.0 - levels)[None, :, None].expand_as(t)
    assert (t - exact).abs().max() < 1e-12
    _, _, t_gram = intersect_manifolds(rep, origins, dirs, 0.88, 1.12, 16, flat_eps=FLAT_SEGMENT_EPS)
    assert (t_gram - exact).abs().max() > 5e-3  # what upstream's absolute rule does to such a field


@pytest.mark.parametrize("num_levels", [23, 12])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gram_level_spacings_keep_upstreams_rule_bit_for_bit(num_levels, dtype):
    """GRAM's levels (23 -> 8) give exactly upstream's `where(|s_h - s_l| > 0.05, interpolation, x_h)`,
    also for segments whose |ds| sits right at 0.05."""
    g = torch.Generator().manual_seed(0)
    levels = torch.linspace(23, 8, num_levels, dtype=dtype)
    n = 4096
    s_lo = 8 + 15 * torch.rand(n, num_levels, generator=g, dtype=dtype)
    ds = torch.cat([torch.rand(n // 2, num_levels, generator=g, dtype=dtype) * 0.1,
                    torch.full((n // 2, num_levels), 0.05, dtype=dtype)])  # flat, steep and the boundary itself
    s_hi = s_lo - ds
    t_lo = torch.rand(n, num_levels, generator=g, dtype=dtype)
    t_hi = t_lo + 0.01
    lv = levels.expand(n, -1)
    ours = _interpolate_hit(s_lo, s_hi, t_lo, t_hi, lv, *flat_segment_thresholds(levels))
    d = s_hi - s_lo
    steep = d.abs() > 0.05
    upstream = torch.where(steep, ((s_hi - lv) * t_lo + (lv - s_lo) * t_hi) / torch.where(steep, d, torch.ones_like(d)),
                           t_hi)
    assert torch.equal(ours, upstream)
    assert 0 < int(steep.sum()) < steep.numel()  # both branches are exercised


def test_the_threshold_can_be_set_by_the_representation_or_the_caller():
    levels = torch.linspace(0.05, -0.05, 11)
    eps, rel = flat_segment_thresholds(levels)
    assert eps == FLAT_SEGMENT_EPS and float(rel) == pytest.approx(0.001)
    rep = Planes(levels)
    rep.flat_segment_eps = 0.002
    assert flat_segment_thresholds(levels, rep) == (0.002, None)
    assert flat_segment_thresholds(levels, rep, flat_eps=0.05) == (0.05, None)
    assert flat_segment_thresholds(torch.tensor([0.5])) == (FLAT_SEGMENT_EPS, None)
