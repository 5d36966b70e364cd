"""The head family's pieces against closed forms: the exact sphere and the ellipsoid's zero set, the polynomial
smooth minimum, the latent -> parameter map of the docstring, the parameter batch's methods, and the mirror of the
painted radiance."""

import math

import pytest
import torch

from zoo3d.data.head_model import (_SCALARS, HEAD_LATENT_DIM, N_NOISE, HeadParams, _palette, _smin, _smoothstep,
                                   background_radiance, head_parts, head_radiance, head_sdf, params_from_latent,
                                   sample_head_params)

D = torch.float64


def _points(b, n, seed, scale=0.3):
    return (torch.rand(b, n, 3, generator=torch.Generator().manual_seed(seed), dtype=D) - 0.5) * scale


def test_a_sphere_head_is_exactly_the_sphere_distance_everywhere():
    """``HeadParams.sphere`` leaves only the skull, and the skull of equal radii is the exact sphere distance."""
    centre = torch.tensor([0.01, -0.02, 0.005], dtype=D)
    params = HeadParams.sphere(0.07, centre.tolist(), n=2, dtype=D)
    pts = _points(2, 500, 0, scale=0.8)  # far from the sphere too, where the removed parts would show
    assert torch.allclose(head_sdf(params, pts), (pts - centre).norm(dim=-1) - 0.07, atol=1e-12, rtol=0)
    assert params.skull_centre.dtype == D
    assert len(HeadParams.sphere(0.07)) == 1 and HeadParams.sphere(0.07).skull_centre.abs().max() == 0  # one, at 0


def test_a_skull_alone_is_zero_on_its_ellipsoid_signed_and_exact_along_the_axes():
    params = HeadParams.sphere(0.05, n=1, dtype=D)
    geometry = params.geometry.clone()
    radii = (0.06, 0.09, 0.075)
    for (name, *_), r in zip(_SCALARS[:3], radii):
        assert name in ("head_w", "head_h", "head_d")
        geometry[:, [n for n, *_ in _SCALARS].index(name)] = r
    params = HeadParams(geometry, params.skull_centre, params.parts, params.background, params.noise_freq,
                        params.noise_phase)
    r = torch.tensor(radii, dtype=D)
    on = torch.nn.functional.normalize(torch.randn(1, 300, 3, generator=torch.Generator().manual_seed(1), dtype=D),
                                       dim=-1)
    surface = on * r
    assert float(head_sdf(params, surface).abs().max()) < 1e-12
    assert bool((head_sdf(params, surface * 0.9) < 0).all()) and bool((head_sdf(params, surface * 1.1) > 0).all())
    for axis in range(3):  # on an axis the distance is |coordinate| - radius, inside and out
        for s in (0.3, 0.8, 1.5, 2.0):
            p = torch.zeros(1, 2, 3, dtype=D)
            p[0, 0, axis], p[0, 1, axis] = s * radii[axis], -s * radii[axis]
            assert torch.allclose(head_sdf(params, p), torch.full((1, 2), (s - 1) * radii[axis], dtype=D),
                                  atol=1e-12), (axis, s)


def test_the_smooth_minimum_is_the_polynomial_blend():
    """min(a, b) - k/4 * max(1 - |a - b| / k, 0)^2: the plain minimum once |a - b| >= k, min - k/4 where a == b."""
    a = torch.linspace(-0.05, 0.05, 201, dtype=D)
    b = torch.full_like(a, 0.01)
    for k in (0.004, 0.02):
        h = (1 - (a - b).abs() / k).clamp_min(0)
        assert torch.allclose(_smin(a, b, k), torch.minimum(a, b) - k / 4 * h * h, atol=1e-15), k
        assert torch.allclose(_smin(b, b, k), b - k / 4)


def test_the_smoothstep_and_the_palette_are_the_textbook_curves():
    x = torch.tensor([-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0], dtype=D)
    u = x.clamp(0, 1)
    assert torch.allclose(_smoothstep(0.0, 1.0, x), 3 * u ** 2 - 2 * u ** 3)
    assert torch.allclose(_smoothstep(2.0, 4.0, 2 + 2 * x), 3 * u ** 2 - 2 * u ** 3)
    colours = ((0.0, 0.0, 0.0), (1.0, 0.5, 0.0), (1.0, 1.0, 1.0))
    t = torch.tensor([-50.0, 0.0, math.log(3.0), 50.0], dtype=D)  # sigmoid: 0, 1/2, 3/4, 1
    # u = sigmoid(t) * (n - 1), then linear between colours floor(u) and floor(u) + 1
    expected = torch.tensor([colours[0], colours[1], [1.0, 0.75, 0.5], colours[2]], dtype=D)
    assert torch.allclose(_palette(colours, t), expected, atol=1e-12)


def test_latents_map_to_mean_plus_spread_tanh_and_the_other_parts_stay_in_range():
    z = torch.randn(5, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(2), dtype=D)
    params = params_from_latent(z)
    mean = torch.tensor([m for _, m, _ in _SCALARS], dtype=D)
    spread = torch.tensor([s for _, _, s in _SCALARS], dtype=D)
    assert torch.allclose(params.geometry, mean + spread * torch.tanh(z[:, :len(_SCALARS)]))
    assert torch.allclose(params_from_latent(torch.zeros(1, HEAD_LATENT_DIM, dtype=D)).geometry, mean[None])
    assert HEAD_LATENT_DIM == 45 == len(_SCALARS) + 3 + 4 * N_NOISE  # docs/data.md: a latent of size 45
    assert bool((params.background > 0.25).all()) and bool((params.background < 0.85).all())
    assert bool((params.noise_phase.abs() < math.pi).all())
    assert params.noise_freq.shape == (5, N_NOISE, 3) and bool((params.parts == 1).all())
    twice = params_from_latent(torch.cat([z[:, :len(_SCALARS) + 3], 2 * z[:, len(_SCALARS) + 3:]], 1))
    assert torch.allclose(twice.noise_freq, 2 * params.noise_freq)  # spatial frequencies are linear in z
    assert not torch.allclose(params.noise_freq[:, 0], params.noise_freq[:, 1])
    wider = params_from_latent(torch.cat([z, torch.randn(5, 3, dtype=D)], 1))  # extra dimensions are ignored
    assert torch.equal(wider.geometry, params.geometry) and torch.equal(wider.noise_phase, params.noise_phase)
    for bad in (torch.zeros(2, HEAD_LATENT_DIM - 1), torch.zeros(HEAD_LATENT_DIM)):
        with pytest.raises(ValueError, match="head latents must be"):
            params_from_latent(bad)


def test_sampled_heads_are_the_seeded_standard_normal_latents():
    g = torch.Generator().manual_seed(11)
    expected = params_from_latent(torch.randn(3, HEAD_LATENT_DIM, generator=g))
    for got in (sample_head_params(3, seed=11), sample_head_params(3, generator=torch.Generator().manual_seed(11))):
        assert torch.equal(got.geometry, expected.geometry) and torch.equal(got.noise_freq, expected.noise_freq)
    assert sample_head_params(2, seed=1, dtype=D).geometry.dtype == D
    assert not torch.equal(sample_head_params(2).geometry, sample_head_params(2).geometry)  # no seed: fresh heads


def test_a_batch_of_heads_indexes_concatenates_converts_and_names_its_parameters():
    heads = sample_head_params(4, seed=3)
    parts = [heads[i] for i in range(4)]
    assert len(heads) == 4 and all(len(p) == 1 for p in parts)
    joined = HeadParams.cat(parts)
    for name in ("geometry", "skull_centre", "parts", "background", "noise_freq", "noise_phase"):
        assert torch.equal(getattr(joined, name), getattr(heads, name)), name
        assert getattr(heads.to(dtype=D), name).dtype == D, name
    names = [n for n, *_ in _SCALARS]
    assert torch.equal(heads.get("neck_r"), heads.geometry[:, names.index("neck_r")])
    assert torch.equal(heads.get("head_w"), heads.geometry[:, 0])
    with pytest.raises(IndexError, match="head 4 of a batch of 4"):
        heads[4]


def test_mirroring_flips_exactly_the_odd_parameters_and_is_its_own_inverse():
    heads = sample_head_params(3, seed=5)
    mirrored = heads.mirrored()
    names = [n for n, *_ in _SCALARS]
    odd = {"parting_x", "gaze_x", "light_x"}
    for i, name in enumerate(names):
        sign = -1 if name in odd else 1
        assert torch.equal(mirrored.geometry[:, i], sign * heads.geometry[:, i]), name
    assert torch.equal(mirrored.skull_centre, heads.skull_centre * torch.tensor([-1.0, 1.0, 1.0]))
    assert torch.equal(mirrored.noise_freq, heads.noise_freq * torch.tensor([-1.0, 1.0, 1.0]))
    assert torch.equal(mirrored.noise_phase, heads.noise_phase) and torch.equal(mirrored.background, heads.background)
    back = mirrored.mirrored()
    assert torch.equal(back.geometry, heads.geometry) and torch.equal(back.noise_freq, heads.noise_freq)
    off_centre = HeadParams.sphere(0.05, (0.02, 0.01, 0.0), n=1)  # the family's skulls sit at x = 0; this one not
    assert torch.equal(off_centre.mirrored().skull_centre, torch.tensor([[-0.02, 0.01, 0.0]]))


def _surface_points(params, n, seed):
    """Points on each head's surface (M, 3), their unit normals and head indices: projected along the gradient."""
    pts = _points(len(params), n, seed, scale=0.2).requires_grad_(True)
    p = pts
    for _ in range(6):
        d = head_sdf(params, p)
        (g,) = torch.autograd.grad(d.sum(), p)
        p = (p - d[..., None] * g / (g * g).sum(-1, keepdim=True)).detach().requires_grad_(True)
    d = head_sdf(params, p)
    (g,) = torch.autograd.grad(d.sum(), p)
    keep = d.detach().abs() < 1e-9
    bidx = torch.arange(len(params))[:, None].expand(-1, n)[keep]
    return p.detach()[keep], torch.nn.functional.normalize(g[keep], dim=-1), bidx


def test_the_painted_radiance_of_the_mirrored_head_is_the_mirror_image():
    """The family is closed under mirroring: colour(mirrored head, x*(-1,1,1)) == colour(head, x), eyes, brows,
    parting, streaks and light included."""
    heads = sample_head_params(4, seed=9).to(dtype=D)
    points, normals, bidx = _surface_points(heads, 600, 3)
    assert len(points) > 1500
    flip = torch.tensor([-1.0, 1.0, 1.0], dtype=D)
    colour = head_radiance(heads, bidx, points, normals)
    mirrored = head_radiance(heads.mirrored(), bidx, points * flip, normals * flip)
    assert torch.allclose(colour, mirrored, atol=1e-10)
    assert bool((colour >= 0).all()) and bool((colour <= 1).all())
    assert float(colour.std(0).min()) > 0.02  # painted, not one flat colour


def test_radiance_is_albedo_times_a_shade_that_grows_with_the_light_and_the_sky():
    """At one point, a normal towards the key light (above, in front) is brighter than one away from it, by the same
    factor in every channel (albedo does not depend on the normal); the shade never reaches 0."""
    heads = sample_head_params(1, seed=4).to(dtype=D)
    points, normals, bidx = _surface_points(heads, 200, 5)
    k = len(points)
    light_x = float(heads.get("light_x"))
    towards = torch.nn.functional.normalize(torch.tensor([light_x, 0.55, 0.8], dtype=D), dim=0).expand(k, 3)
    down = torch.tensor([0.0, -1.0, 0.0], dtype=D).expand(k, 3)
    lit, dark = head_radiance(heads, bidx, points, towards), head_radiance(heads, bidx, points, down)
    ratio = lit / dark
    unclamped = (lit < 0.999).all(-1)
    assert int(unclamped.sum()) > 20
    assert torch.allclose(ratio[unclamped], ratio[unclamped][:, :1].expand(-1, 3), atol=1e-9)
    sky_up = 0.5 + 0.5 * towards[0, 1]
    # shade = ambient + diffuse * max(n.l, 0) + fill * (0.5 + 0.5 n_y): facing down is the ambient alone
    expected = (0.28 + 0.62 + 0.18 * float(sky_up)) / 0.28
    assert torch.allclose(ratio[unclamped], torch.full_like(ratio[unclamped], expected))


def test_the_background_is_its_albedo_with_a_soft_vertical_gradient():
    heads = sample_head_params(2, seed=6)
    y = torch.tensor([-1.0, -0.3, -0.1, 0.0, 0.2, 0.3, 1.0])
    pts = torch.stack([torch.zeros_like(y), y, torch.full_like(y, -0.12)], -1).repeat(2, 1)
    bidx = torch.arange(2).repeat_interleave(len(y))
    got = background_radiance(heads, bidx, pts)
    gradient = 1.0 + 0.35 * y.clamp(-0.3, 0.3)
    assert torch.allclose(got, (heads.background[bidx] * gradient.repeat(2)[:, None]).clamp(0, 1))


def test_every_part_but_the_skull_is_pushed_out_of_a_skull_only_head():
    heads = sample_head_params(2, seed=8)
    skull_only = HeadParams(heads.geometry, heads.skull_centre, torch.zeros(2), heads.background, heads.noise_freq,
                            heads.noise_phase)
    pts = _points(2, 300, 4, scale=0.3).float()
    names = [n for n, *_ in _SCALARS]
    c = {n: heads.geometry[:, i, None] for i, n in enumerate(names)}
    centre = heads.skull_centre[:, :, None]
    parts = head_parts(c, (centre[:, 0], centre[:, 1], centre[:, 2]), torch.zeros(2, 1), pts)
    assert bool((parts["hair"] > 9).all()) and bool((parts["neck"] > 9).all())
    assert torch.allclose(head_sdf(skull_only, pts), parts["skull"])


def test_the_hair_is_symmetric_about_its_parting():
    """Streaks are combed away from the parting and the parting is a line at ``parting_x``: on the hair, the colour
    at parting_x + u equals the colour at parting_x - u (same height, depth and normal)."""
    heads = sample_head_params(3, seed=12).to(dtype=D)
    names = [n for n, *_ in _SCALARS]
    g = torch.Generator().manual_seed(7)
    k = 400
    bidx = torch.arange(3).repeat_interleave(k)
    rel = torch.stack([(torch.rand(3 * k, generator=g, dtype=D) - 0.5) * 0.04,  # within 2 cm of the parting
                       0.075 + torch.rand(3 * k, generator=g, dtype=D) * 0.02,  # the top of the head
                       (torch.rand(3 * k, generator=g, dtype=D) - 0.5) * 0.1], -1)
    parting = heads.geometry[bidx, names.index("parting_x")]
    centre = heads.skull_centre[bidx]
    left = centre + rel + torch.stack([parting, torch.zeros_like(parting), torch.zeros_like(parting)], -1)
    right = left * torch.tensor([-1.0, 1.0, 1.0], dtype=D) + torch.stack(
        [2 * (centre[:, 0] + parting), torch.zeros_like(parting), torch.zeros_like(parting)], -1)
    c = {n: heads.geometry[bidx, i] for i, n in enumerate(names)}
    cx, cy, cz = centre.unbind(-1)

    def on_hair(p):
        d = head_parts(c, (cx, cy, cz), heads.parts[bidx], p)
        return d["hair"] < torch.minimum(d["face"], d["neck"]) - 0.005

    both = on_hair(left) & on_hair(right)
    assert int(both.sum()) > 200
    up = torch.tensor([0.0, 1.0, 0.0], dtype=D).expand(int(both.sum()), 3)
    a = head_radiance(heads, bidx[both], left[both], up)
    b = head_radiance(heads, bidx[both], right[both], up)
    assert torch.allclose(a, b, atol=1e-12)
    assert float((a - a.mean(0)).abs().max()) > 0.02  # streaks and parting vary the colour
