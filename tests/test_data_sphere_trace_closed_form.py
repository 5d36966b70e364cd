"""The sphere tracer's parts against closed forms: ray/box slabs, ray/ellipsoid roots, one marching step by hand,
Newton's root of a sphere and of a plane, and the guard that keeps a traced hit where Newton runs away."""

import math

import pytest
import torch

from zoo3d.data.sphere_trace import newton_refine, ray_box, ray_ellipsoid, sphere_trace

D = torch.float64


def _rays(n, seed, spread=0.4):
    """Rays from points around (0, 0, 1) looking roughly at the origin, unit directions (float64)."""
    g = torch.Generator().manual_seed(seed)
    origins = torch.tensor([0.0, 0.0, 1.0], dtype=D) + (torch.rand(n, 3, generator=g, dtype=D) - 0.5) * 0.2
    aim = (torch.rand(n, 3, generator=g, dtype=D) - 0.5) * spread
    return origins, torch.nn.functional.normalize(aim - origins, dim=-1)


def _sphere_roots(origins, dirs, centre, radius):
    """Both roots of |o + t d - c| = r for unit d (nan where the ray misses)."""
    oc = origins - torch.as_tensor(centre, dtype=D)
    b = (oc * dirs).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - radius ** 2)
    root = torch.sqrt(disc)
    return -b - root, -b + root


def _sphere_field(centre, radius):
    c = torch.as_tensor(centre, dtype=D)
    return lambda points, rows: (points - c).norm(dim=-1) - radius


def test_ray_box_entry_and_exit_are_the_slab_interval_and_a_miss_is_entry_past_exit():
    """Written out per ray: the last entry across the three slabs and the first exit; from inside, entry 0."""
    lo, hi = (-0.1, -0.2, -0.05), (0.05, 0.1, 0.15)
    origins, dirs = _rays(300, 0, spread=0.6)
    origins = torch.cat([origins, torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=D)])
    dirs = torch.cat([dirs, torch.tensor([[0.6, 0.0, 0.8], [0.0, 0.0, -1.0]], dtype=D)])  # inside; two axes flat
    near, far = ray_box(origins, dirs, lo, hi)
    inside = 0
    for k in range(len(origins)):
        enter, leave = 0.0, math.inf
        for a in range(3):
            o, d = float(origins[k, a]), float(dirs[k, a])
            if d == 0.0:
                if not lo[a] <= o <= hi[a]:
                    enter, leave = math.inf, -math.inf
                continue
            t0, t1 = sorted([(lo[a] - o) / d, (hi[a] - o) / d])
            enter, leave = max(enter, t0), min(leave, t1)
        if enter < leave:
            inside += 1
            assert abs(float(near[k]) - enter) < 1e-9 and abs(float(far[k]) - leave) < 1e-9, k
        else:
            assert float(near[k]) > float(far[k]), k
    assert 50 < inside < len(origins) - 50  # both kinds of ray were checked
    assert float(near[-2]) == 0.0 and abs(float(far[-2]) - 0.05 / 0.6) < 1e-9  # from inside: leaves through x = 0.05
    assert abs(float(near[-1]) - 0.85) < 1e-9 and abs(float(far[-1]) - 1.05) < 1e-9  # straight down the z axis


@pytest.mark.parametrize("centre, radii, scale", [((0.01, -0.02, 0.03), (0.09, 0.12, 0.07), 1.0),
                                                   ((0.0, 0.1, -3.0), (1.0, 1.5, 0.8), 2.0)])
def test_ray_ellipsoid_entry_and_exit_are_the_roots_of_the_scaled_sphere(centre, radii, scale):
    """Scaling space by 1/radii maps the ellipsoid to the unit sphere and keeps the ray parameter t."""
    origins, dirs = _rays(400, 1, spread=0.5 * scale)
    near, far = ray_ellipsoid(origins, dirs, centre, radii)
    r = torch.tensor(radii, dtype=D)
    o = (origins - torch.tensor(centre, dtype=D)) / r
    d = dirs / r
    a, b, c = (d * d).sum(-1), 2 * (o * d).sum(-1), (o * o).sum(-1) - 1
    disc = b * b - 4 * a * c
    hit = disc > 0
    t0 = (-b - torch.sqrt(disc.clamp_min(0))) / (2 * a)
    t1 = (-b + torch.sqrt(disc.clamp_min(0))) / (2 * a)
    assert 50 < int(hit.sum()) < 350
    if scale > 1:  # a large ellipsoid: rays near its outline have a (quarter) discriminant below 1
        assert int((hit & (disc < 4)).sum()) > 5
    assert torch.allclose(near[hit], t0[hit], atol=1e-11) and torch.allclose(far[hit], t1[hit], atol=1e-11)
    assert bool((far[~hit] == -1).all()) and bool((near[~hit] > far[~hit]).all())
    points = origins[hit] + near[hit, None] * dirs[hit]  # the entry lies on the ellipsoid
    assert torch.allclose((((points - torch.tensor(centre, dtype=D)) / r) ** 2).sum(-1), torch.ones(1, dtype=D))
    # from inside, the entry is the ray's start
    n0, f0 = ray_ellipsoid(torch.tensor([centre], dtype=D), torch.tensor([[0.0, 1.0, 0.0]], dtype=D), centre, radii)
    assert float(n0) == 0.0 and abs(float(f0) - radii[1]) < 1e-12


def test_one_marching_step_moves_every_ray_by_relax_times_the_field():
    """steps=1: t = t_near + relax * sdf(o + t_near d); past the far bound that is the ray's t, and no hit. The last
    step records the rays that finished in it, however few they are."""
    origins, dirs = _rays(64, 2)
    origins[-1], dirs[-1] = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, -1.0])  # starts on the surface
    field = _sphere_field((0.0, 0.0, 0.0), 0.3)
    t_near = torch.full((64,), 0.2, dtype=D)
    t_near[-1] = 0.7
    t_far = torch.full((64,), 5.0, dtype=D)  # rays 6-62 are still marching after the one step
    t_far[4:6] = 0.3
    t_far[:4] = 0.1  # an empty interval: never marched, never a hit
    t, hit = sphere_trace(field, origins, dirs, torch.zeros(1, 64, dtype=D), t_near, t_far, eps=1e-4, steps=1,
                          relax=0.7)
    expected = 0.2 + 0.7 * ((origins + 0.2 * dirs).norm(dim=-1) - 0.3)
    assert bool((expected[4:6] > 0.3).all())
    assert torch.allclose(t[4:6], expected[4:6], atol=1e-12) and not bool(hit[:-1].any())
    assert torch.equal(t[:4], t_near[:4])
    assert float(t[-1]) == 0.7 and bool(hit[-1])  # converged where it started


def test_a_single_ray_is_traced_to_the_sphere():
    field = _sphere_field((0.0, 0.0, 0.0), 0.3)
    origins, dirs = torch.tensor([[0.0, 0.0, 1.0]], dtype=D), torch.tensor([[0.0, 0.0, -1.0]], dtype=D)
    t, hit = sphere_trace(field, origins, dirs, torch.zeros(1, 1, dtype=D), torch.zeros(1, dtype=D),
                          torch.full((1,), 3.0, dtype=D), 1e-6)
    assert bool(hit) and abs(float(t) - 0.7) < 1e-6


def test_a_ray_that_passed_its_far_bound_is_no_hit_even_where_it_later_meets_the_surface():
    """A ray past its far bound may march on while too few rays finished to drop them (the others still marching);
    meeting the sphere behind its bound is no hit."""
    field = _sphere_field((0.0, 0.0, 0.0), 0.3)
    origins, dirs = _rays(40, 6, spread=0.1)
    root, _ = _sphere_roots(origins, dirs, (0.0, 0.0, 0.0), 0.3)
    t_far = torch.full((40,), 3.0, dtype=D)
    t_far[0] = 0.6 * float(root[0])
    t, hit = sphere_trace(field, origins, dirs, torch.zeros(1, 40, dtype=D), torch.zeros(40, dtype=D), t_far, 1e-5,
                          steps=100, compact_every=1)
    assert bool(hit[1:].all()) and not bool(hit[0])


def test_traced_hits_are_the_near_root_within_the_tolerance_and_misses_are_not_hits():
    """The marching stops once the field is below eps * t: a hit's t sits just before the sphere's near root."""
    centre, radius, eps = (0.01, 0.0, -0.01), 0.25, 1e-4
    origins, dirs = _rays(200, 3, spread=0.9)
    t0, _ = _sphere_roots(origins, dirs, centre, radius)
    expect_hit = ~torch.isnan(t0)
    n = len(origins)
    t, hit = sphere_trace(_sphere_field(centre, radius), origins, dirs, torch.zeros(1, n, dtype=D),
                          torch.zeros(n, dtype=D), torch.full((n,), 3.0, dtype=D), eps, steps=200, relax=0.9,
                          compact_every=3)
    assert 40 < int(expect_hit.sum()) < 160
    miss_by = (origins - torch.tensor(centre, dtype=D)).cross(dirs, dim=-1).norm(dim=-1) - radius
    clear = miss_by.abs() > 0.01  # rays that pass within the tolerance of the outline may go either way
    assert torch.equal(hit[clear], expect_hit[clear])  # away from the silhouette, hit exactly where the root exists
    sure = clear & hit
    gap = t0[sure] - t[sure]
    assert bool((gap >= 0).all()) and bool((gap <= eps * t[sure] / 0.05).all())
    assert bool((t[clear & ~hit] > 3.0).all())  # a miss marched past its far bound
    # a far bound in front of the sphere: the ray converges nowhere before it and is no hit
    t_short, hit_short = sphere_trace(_sphere_field(centre, radius), origins, dirs, torch.zeros(1, n, dtype=D),
                                      torch.zeros(n, dtype=D), t0.nan_to_num(1.0) * 0.9, eps, steps=200)
    assert not bool(hit_short.any())


def test_the_trace_does_not_depend_on_when_finished_rays_are_dropped():
    """Compaction only saves work: every ``compact_every`` gives the same hits, at the same t, as compacting once."""
    field = _sphere_field((0.0, 0.0, 0.0), 0.25)
    origins, dirs = _rays(300, 4, spread=0.9)
    n = len(origins)
    args = (field, origins, dirs, torch.zeros(1, n, dtype=D), torch.zeros(n, dtype=D), torch.full((n,), 3.0, dtype=D),
            1e-4)
    ref_t, ref_hit = sphere_trace(*args, steps=40, compact_every=1000)
    for every in (1, 2, 5):
        t, hit = sphere_trace(*args, steps=40, compact_every=every)
        assert torch.equal(hit, ref_hit) and torch.equal(t[hit], ref_t[hit]), every
    assert 50 < int(ref_hit.sum()) < 250


def test_newton_refinement_lands_on_the_sphere_root_with_the_normal_of_its_last_step():
    """Newton on f(t) = |o + t d - c| - r from just before the root; the normal is the field's gradient where the
    last step started (the six-point stencil there)."""
    centre, radius = torch.tensor([0.02, -0.01, 0.0], dtype=D), 0.3
    origins, dirs = _rays(50, 5, spread=0.2)
    root, _ = _sphere_roots(origins, dirs, centre, radius)
    assert not bool(root.isnan().any())
    start = root - 3e-3  # a traced hit stops a little before the surface
    t_by_hand, last = start, start
    for iters in (1, 2):
        kw = {"iters": 1} if iters == 1 else {}  # two iterations by default
        t, normals = newton_refine(_sphere_field(centre, radius), origins, dirs, torch.zeros(1, 50, dtype=D), start,
                                   **kw)
        rel = origins + t_by_hand[:, None] * dirs - centre
        last = t_by_hand
        t_by_hand = t_by_hand - (rel.norm(dim=-1) - radius) / ((rel * dirs).sum(-1) / rel.norm(dim=-1))
        assert torch.allclose(t, t_by_hand, atol=1e-9), iters
        expected_n = torch.nn.functional.normalize(origins + last[:, None] * dirs - centre, dim=-1)
        assert torch.allclose(normals, expected_n, atol=1e-7), iters
    assert torch.allclose(t, root, atol=1e-9)


def test_a_grazing_newton_step_uses_a_slope_of_at_least_0_05():
    """On a plane met at a grazing angle (slope -0.01 along the ray) the step is value / 0.05, not value / 0.01."""
    normal = torch.tensor([0.0, 1.0, 0.0], dtype=D)
    field = lambda points, rows: points @ normal  # noqa: E731  the plane y = 0
    origins = torch.tensor([[0.0, 0.02, 0.0]], dtype=D)
    dirs = torch.tensor([[math.sqrt(1 - 0.01 ** 2), -0.01, 0.0]], dtype=D)
    t, normals = newton_refine(field, origins, dirs, torch.zeros(1, 1, dtype=D), torch.tensor([0.5], dtype=D), iters=1,
                               guard=False)
    value = 0.02 - 0.01 * 0.5
    assert abs(float(t) - (0.5 + value / 0.05)) < 1e-9
    assert torch.allclose(normals, normal[None], atol=1e-9)


def _atan_field(points, rows):
    """Falls along +x like -atan(x - 1), plus rows[0] * y: Newton from x = 3 overshoots, from x = 1.3 converges."""
    return -torch.atan(points[:, 0] - 1) + rows[0] * points[:, 1]


def test_the_guard_keeps_the_traced_hit_where_newton_runs_away_and_takes_its_normal_there():
    origins = torch.zeros(2, 3, dtype=D)
    dirs = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=D)
    rows = torch.tensor([[0.1, 0.3]], dtype=D)
    start = torch.tensor([3.0, 1.3], dtype=D)
    t, normals = newton_refine(_atan_field, origins, dirs, rows, start, iters=2)
    assert float(t[0]) == 3.0  # f(3) = -atan 2; one Newton step goes to 3 - 5 atan 2, where |f| is larger
    assert torch.allclose(normals[0], torch.tensor([-0.2, 0.1, 0.0], dtype=D) / math.hypot(0.2, 0.1), atol=1e-6)
    # the converging ray: two Newton steps on -atan(t - 1) from 1.3 (written out), normal from the gradient there
    xs = [1.3]
    for _ in range(2):
        xs.append(xs[-1] - (-math.atan(xs[-1] - 1)) / (-1 / (1 + (xs[-1] - 1) ** 2)))
    assert abs(float(t[1]) - xs[2]) < 1e-6
    grad = torch.tensor([-1 / (1 + (xs[1] - 1) ** 2), 0.3, 0.0], dtype=D)  # where the last step started
    assert torch.allclose(normals[1], grad / grad.norm(), atol=1e-6)
    unguarded, _ = newton_refine(_atan_field, origins, dirs, rows, start, iters=2, guard=False)
    assert abs(math.atan(float(unguarded[0]) - 1)) > math.atan(2)  # without the guard: farther off than the trace
    assert float(unguarded[1]) == float(t[1])


def test_without_newton_steps_the_traced_t_is_kept_with_the_surface_normal_there():
    """iters=0 (``render_heads(refine=0)``) had returned the rays' directions as normals: shading looked inwards."""
    centre, radius = torch.tensor([0.0, 0.01, 0.0], dtype=D), 0.3
    origins, dirs = _rays(20, 8, spread=0.2)
    start = _sphere_roots(origins, dirs, centre, radius)[0] - 1e-3
    t, normals = newton_refine(_sphere_field(centre, radius), origins, dirs, torch.zeros(1, 20, dtype=D), start,
                               iters=0)
    assert torch.equal(t, start)
    assert torch.allclose(normals, torch.nn.functional.normalize(origins + start[:, None] * dirs - centre, dim=-1),
                          atol=1e-7)
