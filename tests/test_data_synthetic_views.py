"""``render_heads`` on a view the prior never draws, the tracer's step budget and the heads' precision, against closed
forms (the background plane, a sphere's hit); ``SyntheticHeads``'s defaults as docs/data.md states them."""

import math

import torch

from zoo3d.cameras import Camera
from zoo3d.data.head_model import BACKGROUND_Z, HeadParams, background_radiance
from zoo3d.data.synthetic import SyntheticHeads, instance_params_and_camera, render_heads

D = torch.float64


def _rays(cams, h, w):
    origins, dirs = cams.rays(h, w)
    return origins.reshape(-1, 3), dirs.reshape(-1, 3)


def _sphere_hit(origins, dirs, centre, radius):
    oc = origins - centre
    b = (oc * dirs).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - radius ** 2)
    return -b - disc.clamp_min(0).sqrt(), disc


def test_a_view_without_the_head_is_the_background_plane_in_every_pixel():
    """Aimed 35 degrees off the head (the view is 12 wide): no ray meets it, each stops on the plane z = -0.12."""
    heads = HeadParams.sphere(0.075, n=2, dtype=D)
    cams = Camera.from_angles([0.0, 0.3], [0.0, -0.2], target=(0.5, 0.5, 0.0), dtype=D)
    out = render_heads(heads, cams, (6, 10))
    origins, dirs = _rays(cams, 6, 10)
    t_bg = (origins[:, 2] - BACKGROUND_Z) / -dirs[:, 2]
    points = origins + t_bg[:, None] * dirs
    bidx = torch.arange(2).repeat_interleave(60)
    assert bool((out["mask"] == 0).all())
    assert torch.allclose(out["depth"].reshape(-1), t_bg, rtol=0, atol=1e-12)
    expected = background_radiance(heads, bidx, points) * 2 - 1
    assert torch.allclose(out["rgb"].permute(0, 2, 3, 1).reshape(-1, 3), expected, rtol=0, atol=1e-12)


def test_a_single_tracing_step_reaches_no_surface_and_the_default_budget_reaches_the_sphere():
    """The first step only evaluates the field at the bound's near point, outside the sphere: with ``steps=1`` no ray
    converges (all background); the default 64 steps find the analytic hit of every ray well inside the outline."""
    centre, radius = torch.tensor([0.0, 0.01, 0.0], dtype=D), 0.07
    heads = HeadParams.sphere(radius, centre.tolist(), n=1, dtype=D)
    cams = Camera.from_angles([0.1], [0.05], dtype=D)
    origins, dirs = _rays(cams, 16, 16)
    t_hit, disc = _sphere_hit(origins, dirs, centre, radius)
    inner = disc > 3e-4
    assert int(inner.sum()) > 40
    t_bg = (origins[:, 2] - BACKGROUND_Z) / -dirs[:, 2]
    one = render_heads(heads, cams, 16, steps=1)
    assert bool((one["mask"] == 0).all())
    assert torch.allclose(one["depth"].reshape(-1), t_bg, rtol=0, atol=1e-12)
    full = render_heads(heads, cams, 16)
    assert bool((full["mask"].reshape(-1)[inner] == 1).all())
    assert torch.allclose(full["depth"].reshape(-1)[inner], t_hit[inner], rtol=0, atol=2e-6)  # "exact to ~1e-6"


def test_heads_are_rendered_in_the_cameras_precision():
    """float32 heads seen by float64 cameras render as those heads converted to float64 (every op in float64)."""
    heads = HeadParams.sphere(0.0731, [0.0031, 0.0107, -0.0023], n=1, dtype=torch.float32)
    heads = HeadParams(heads.geometry, heads.skull_centre, heads.parts, torch.tensor([[0.31, 0.47, 0.73]]),
                       heads.noise_freq, heads.noise_phase)
    cams = Camera.from_angles([0.2], [-0.1], dtype=D)
    mixed = render_heads(heads, cams, 12)
    wide = render_heads(heads.to(dtype=D), cams, 12)
    for key in ("rgb", "depth", "mask"):
        assert mixed[key].dtype == D and torch.equal(mixed[key], wide[key]), key


def test_the_dataset_defaults_are_the_documented_options(monkeypatch):
    """count=10000, seed=0, cache on, block=32, cache_mb=1024, device cpu, not mirrored (docs/data.md)."""
    assert len(SyntheticHeads(8)) == 10_000
    ds = SyntheticHeads(8, count=40)
    assert ds.device == torch.device("cpu") and ds.cache_bytes == 1024 * 2 ** 20 and ds.prefetch_items == 32
    calls, render = [], ds.render
    monkeypatch.setattr(ds, "render", lambda indices: calls.append(list(indices)) or render(indices))
    first = ds[5]
    again = ds[5]  # kept: not rendered again
    assert calls == [list(range(32))]
    assert torch.equal(first["image"], again["image"])
    assert not any(ds[i]["mirrored"] for i in range(40)) and len(calls) == 2
    _, cams = instance_params_and_camera(0, [5])
    assert torch.equal(first["camera"], cams.to_eg3d()[0])
    assert math.isfinite(float(first["depth"].sum()))
