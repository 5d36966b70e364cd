"""Sample placement along rays against closed forms: layouts, given and seeded draws, inverse-CDF quantiles."""

from __future__ import annotations

import pytest
import torch

from zoo3d.render.samples import (
    bin_centres,
    draw_like,
    interval_midpoints,
    linspace_samples,
    place_samples,
    sample_pdf,
    smoothed_interval_weights,
)

F64 = torch.zeros(1, dtype=torch.float64)


# ---------------------------------------------------------------- layouts and jitter


def test_default_layout_is_the_bin_centres_in_the_dtype_asked_for():
    expected = torch.tensor([1.125, 1.375, 1.625, 1.875], dtype=torch.float64).expand(2, 4)
    torch.testing.assert_close(bin_centres(1.0, 2.0, 4, (2,), F64), expected, atol=0, rtol=0)
    torch.testing.assert_close(place_samples(1.0, 2.0, 4, (2,), F64), expected, atol=0, rtol=0)


def test_edges_layout_reproduces_stylesdfs_t_vals_bit_for_bit():
    """StyleSDF: t = linspace(0, 1 - 1/N, N), z = near (1 - t) + far t (float32, so rounding shows)."""
    near, far, n = 0.88, 1.12, 24
    t = torch.linspace(0.0, 1.0 - 1.0 / n, n)
    z = place_samples(near, far, n, (3,), torch.zeros(1), "edges")
    assert torch.equal(z, (near * (1.0 - t) + far * t).expand(3, n))


def test_jitter_moves_each_sample_by_its_draw_times_the_spacing():
    """u (float32) against float64 samples: u is taken to the samples' dtype before it is scaled."""
    u = torch.tensor([[0.1, 0.7, 0.3, 0.9]])
    u64 = u.double()
    k = torch.arange(4, dtype=torch.float64)
    for spacing, base in (("bins", 1.0 + 0.25 * k), ("edges", 1.0 + 0.25 * k)):
        torch.testing.assert_close(place_samples(1.0, 2.0, 4, (1,), F64, spacing, "stratified", u=u),
                                   base + 0.25 * u64, atol=1e-15, rtol=0)
    # pi-GAN: around each linspace position by (u - 1/2) x spacing
    u5, u5_64 = torch.cat([u, u[:, :1]], 1), torch.cat([u64, u64[:, :1]], 1)
    torch.testing.assert_close(place_samples(1.0, 2.0, 5, (1,), F64, "linspace", True, u=u5),
                               1.0 + 0.25 * torch.arange(5.0, dtype=torch.float64) + (u5_64 - 0.5) * 0.25,
                               atol=1e-15, rtol=0)


def test_linspace_jitter_reproduces_pigans_perturb_points_bit_for_bit():
    """pi-GAN: offset = (u - 1/2) (z[1] - z[0]) from its float32 linspace (so rounding shows), also for 2 samples."""
    for near, far, n in ((0.1, 0.7, 2), (2.3, 3.1, 2), (0.88, 1.12, 12)):
        z = torch.linspace(near, far, n)
        u = torch.rand(3, n, generator=torch.Generator().manual_seed(n))
        out = place_samples(near, far, n, (3,), torch.zeros(1), "linspace", "stratified", u=u)
        assert torch.equal(out, z + (u - 0.5) * (z[1:2] - z[0:1]))


def test_a_single_linspace_sample_jitters_over_the_whole_range():
    out = place_samples(1.0, 2.0, 1, (1,), F64, "linspace", "stratified", u=torch.tensor([[0.75]]))
    torch.testing.assert_close(out, torch.tensor([[1.25]], dtype=torch.float64), atol=1e-15, rtol=0)


def test_seeded_draws_come_from_the_generator_in_the_samples_dtype():
    """One float64 draw per sample (stratified, True) or per ray (offset) from the generator given."""
    shape, n = (3, 2), 5
    k = torch.arange(n, dtype=torch.float64)
    for jitter, draws in ((True, n), ("stratified", n), ("offset", 1)):
        u = torch.rand(*shape, draws, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        out = bin_centres(1.0, 2.0, n, shape, F64, jitter=jitter, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(out, 1.0 + (k + u) * 0.2, atol=1e-15, rtol=0)


def test_a_seeded_draw_is_the_generators_numbers_in_the_dtype_of_like_and_moved_to_its_device():
    """Drawn on the generator's device (a CPU one here), then moved: a meta tensor stands for another device."""
    for sample in (torch.rand, torch.randn):
        expected = sample((2, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        got = draw_like(sample, (2, 3), F64, torch.Generator().manual_seed(3))
        torch.testing.assert_close(got, expected, atol=0, rtol=0)
    drawn_on = []

    def recorded(sample):
        return lambda shape, **kw: drawn_on.append(torch.device(kw["device"]).type) or sample(shape, **kw)

    moved = draw_like(recorded(torch.rand), (2,), torch.zeros(1, device="meta"), torch.Generator().manual_seed(3))
    unseeded = draw_like(recorded(torch.randn), (4,), torch.zeros(1, dtype=torch.float16, device="meta"))
    assert [(t.device.type, t.dtype) for t in (moved, unseeded)] == [("meta", torch.float32), ("meta", torch.float16)]
    assert drawn_on == ["cpu", "meta"]  # the seeded draw where its generator is, the unseeded one where like is


def test_unknown_spacing_or_jitter_is_refused_by_name():
    with pytest.raises(ValueError, match="spacing must be one of .*'grid'"):
        place_samples(0.0, 1.0, 4, (1,), F64, "grid")
    with pytest.raises(ValueError, match="jitter must be .*'wobble'"):
        place_samples(0.0, 1.0, 4, (1,), F64, "bins", "wobble")


def test_eg3d_linspace_samples_default_to_the_linspace_and_take_draws_in_the_samples_dtype():
    torch.testing.assert_close(linspace_samples(1.0, 2.0, 5, (2,), F64),
                               (1.0 + 0.25 * torch.arange(5.0, dtype=torch.float64)).expand(2, 5), atol=0, rtol=0)
    u = torch.tensor([[0.1, 0.7, 0.3, 0.9]])  # float32 draws, float64 samples 1/3 apart
    torch.testing.assert_close(linspace_samples(1.0, 2.0, 4, (1,), F64, u=u),
                               1.0 + (torch.arange(4.0, dtype=torch.float64) + u.double()) / 3, atol=1e-15, rtol=0)


# ---------------------------------------------------------------- inverse-CDF sampling


def _quantiles(edges, weights, u):
    """The closed-form inverse CDF of a piecewise-constant pdf, one draw at a time (float64 lists)."""
    total = sum(weights)
    out, cum = [], 0.0
    for uu in u:
        cum = 0.0
        for i, w in enumerate(weights):
            p = w / total
            if w > 0 and uu < cum + p:
                out.append(edges[i] + (uu - cum) / p * (edges[i + 1] - edges[i]))
                break
            cum += p
    return out


def test_deterministic_importance_samples_are_the_closed_form_quantiles():
    edges, weights, n = [0.0, 0.5, 2.0, 2.25, 3.0], [1.0, 3.0, 2.0, 4.0], 7
    u = [(i + 0.5) / n for i in range(n)]
    expected = torch.tensor(_quantiles(edges, weights, u), dtype=torch.float64)
    e, w = torch.tensor(edges, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)
    for lead in ((), (2,), (2, 3)):  # any leading shape
        out = sample_pdf(e.expand(*lead, 5), w.expand(*lead, 4), n, eps=0.0)
        torch.testing.assert_close(out, expected.expand(*lead, n), atol=1e-12, rtol=0)


def test_importance_sampling_adds_its_epsilon_to_every_weight():
    """weights (0, 1) + eps 1e-5: the first section holds eps / (1 + 2 eps) of the mass."""
    eps = 1e-5
    e, w = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    u = [0.25, 0.75]
    expected = _quantiles([0.0, 1.0, 2.0], [eps, 1.0 + eps], u)
    torch.testing.assert_close(sample_pdf(e, w, 2), torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=0)
    low = sample_pdf(e, w, 1, u=torch.tensor([eps / 2], dtype=torch.float64))  # inside the thin first section
    torch.testing.assert_close(low, torch.tensor([(eps / 2) * (1 + 2 * eps) / eps], dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_given_and_seeded_draws_map_through_the_cdf():
    """A uniform pdf over [1, 3] in equal sections: t = 1 + 2u, for given (float32) or seeded float64 draws."""
    e = torch.linspace(1.0, 3.0, 5, dtype=torch.float64).expand(2, 5)
    w = torch.ones(2, 4, dtype=torch.float64)
    u = torch.tensor([[0.1, 0.35, 0.6, 0.95], [0.0, 0.2, 0.5, 0.8]])
    torch.testing.assert_close(sample_pdf(e, w, 4, u=u), 1.0 + 2.0 * u.double(), atol=1e-12, rtol=0)
    drawn = torch.rand(2, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = sample_pdf(e, w, 6, deterministic=False, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, 1.0 + 2.0 * drawn, atol=1e-12, rtol=0)
    torch.manual_seed(5)
    drawn = torch.rand(2, 6, dtype=torch.float64)
    torch.manual_seed(5)
    torch.testing.assert_close(sample_pdf(e, w, 6, deterministic=False), 1.0 + 2.0 * drawn, atol=1e-12, rtol=0)


def test_draws_at_the_ends_of_the_unit_interval_stay_in_sections_with_mass():
    """u = 0 skips empty leading sections; a draw above a cdf that sums to just under 1 lands on the far edge."""
    e = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    assert sample_pdf(e, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64), 1, eps=0.0,
                      u=torch.tensor([0.0])).item() == 1.0
    top = torch.tensor([1.0 - 2.0 ** -53], dtype=torch.float64)  # the largest double below 1
    for w in ((0.1, 0.2, 0.3), (0.1, 0.3, 0.2)):  # normalised, these sum to 1 - 2^-53 and 1 - 2^-52
        w = torch.tensor(w, dtype=torch.float64)
        assert (w / w.sum()).cumsum(-1)[-1] < 1
        assert sample_pdf(e, w, 1, eps=0.0, u=top).item() == 3.0


def test_importance_samples_keep_the_dtype_of_the_sections_whatever_the_draws():
    e, w = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 3.0])
    out = sample_pdf(e, w, 2, eps=0.0, u=torch.tensor([0.125, 0.625], dtype=torch.float64))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([0.5, 1.5]), atol=0, rtol=0)


# ---------------------------------------------------------------- EG3D intervals


def test_interval_midpoints_average_each_value_over_its_two_ends():
    t = torch.tensor([[0.0, 1.0, 3.0, 6.0]], dtype=torch.float64)
    v = torch.tensor([[2.0, 4.0, 8.0, 16.0]], dtype=torch.float64)
    c = torch.stack([v, -v, 10 * v], dim=-1)  # (1, 4, 3)
    lengths, mids, v_mid, none, c_mid = interval_midpoints(t, v, None, c)
    torch.testing.assert_close(lengths, torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    torch.testing.assert_close(mids, torch.tensor([[0.5, 2.0, 4.5]], dtype=torch.float64))
    torch.testing.assert_close(v_mid, torch.tensor([[3.0, 6.0, 12.0]], dtype=torch.float64))
    assert none is None
    torch.testing.assert_close(c_mid, torch.stack([v_mid, -v_mid, 10 * v_mid], dim=-1))


def test_eg3d_weight_smoothing_works_on_any_leading_shape():
    w = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.4])
    smoothed = torch.tensor([0.5, 1.0, 0.5, 0.2, 0.4]) + 0.01
    batched = torch.stack([w, 2 * w, w.flip(0)]).expand(2, 3, 5)
    expected = torch.stack([smoothed, 2 * smoothed - 0.01, torch.tensor([0.4, 0.2, 0.5, 1.0, 0.5]) + 0.01])
    torch.testing.assert_close(smoothed_interval_weights(batched), expected.expand(2, 3, 5))
