"""The oracles against independent answers: the oracle's image of a seeded draw is the synthetic dataset's
own render of that instance, its field is the head's signed distance (a sphere's in closed form) with the
tracer's colours on the surface, and the inconsistent oracle's images are a bilinear upsample of a
low-resolution render through the warp of its docstring, written out here in NumPy, plus per-view noise."""

import math

import numpy as np
import pytest
import torch

from zoo3d.cameras import Camera
from zoo3d.data.augment import stable_hash
from zoo3d.data.head_model import HEAD_LATENT_DIM, HeadParams, head_radiance, params_from_latent
from zoo3d.data.synthetic import SyntheticHeads, render_heads
from zoo3d.eval.metric import instance_latent
from zoo3d.plugins import get_model_spec
from zoo3d_oracle.model import OracleHeads

pytestmark = pytest.mark.usefixtures("single_thread")


def _generator(name, **settings):
    plugin = get_model_spec(name).load()
    config = plugin.config_class.model_validate({"model": name, "generator": settings})
    return plugin.build(config)["generator"]


# ------------------------------------------------------------------------------------ the oracle


def test_a_draw_seeded_like_a_dataset_instance_renders_that_instance():
    """Instance i of ``SyntheticHeads(seed=s)`` draws its latent, then its camera, from one generator seeded
    with stable_hash(s, i): the oracle's latent and camera drawn the same way render the dataset's item."""
    gen = _generator("oracle", resolution=24)
    seed, indices = 3, [2, 5]
    zs, cams = [], []
    for i in indices:
        g = torch.Generator().manual_seed(stable_hash(seed, i))
        zs.append(gen.sample_z(1, generator=g))
        cams.append(gen.sample_cameras(1, generator=g))
    out = gen(torch.cat(zs), Camera.cat(cams))  # the configured resolution: 24 px
    data = SyntheticHeads(24, count=8, seed=seed, cache=False).render(indices)
    assert torch.equal(Camera.cat(cams).to_eg3d(), data["camera"])
    # the dataset keeps 8-bit levels: within half a level (1 / 255 on [-1, 1]) of the float render
    assert out.rgb.shape == data["image"].shape
    assert (out.rgb - data["image"]).abs().max() <= 1 / 255 + 1e-6
    assert torch.allclose(out.depth, data["depth"], rtol=0, atol=1e-6)
    assert torch.equal(out.alpha, data["mask"]) and 0 < float(out.alpha.mean()) < 1


def test_an_evaluation_seed_is_a_standard_normal_latent_and_psi_scales_it_towards_the_mean_head():
    """The harness's instance latent is randn(1, z_dim) from manual_seed(seed); psi multiplies it (0: the mean head)."""
    gen = _generator("oracle", resolution=20)
    assert gen.z_dim == HEAD_LATENT_DIM
    z = instance_latent(gen, 7, "cpu")
    assert torch.equal(z, torch.randn(1, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(7)))
    cams = Camera.from_angles(torch.tensor([0.25, -0.1]), torch.tensor([0.1, -0.05]))
    for psi in (1.0, 0.5):
        out = gen(z.expand(2, -1), cams, psi=psi)
        ref = render_heads(params_from_latent(psi * z.expand(2, -1)), cams, 20)
        assert torch.allclose(out.rgb, ref["rgb"], atol=1e-6) and torch.allclose(out.depth, ref["depth"], atol=1e-6)
    assert not torch.allclose(gen(z, cams[:1], psi=0.5).rgb, gen(z, cams[:1]).rgb, atol=1e-2)
    # represent alone keeps the latent (psi 1); nothing is learnt, so there is no state, but dtype follows .to
    assert torch.equal(gen.represent(z).params.geometry, params_from_latent(z).geometry)
    assert gen.state_dict() == {} and gen.to(torch.float64).dtype == torch.float64


def test_a_pixel_warp_without_a_resolution_is_a_share_of_64_px_and_a_stored_share_wins():
    cls = get_model_spec("oracle_inconsistent").load().config_class
    only_px = cls.upgrade_stored({"model": "oracle_inconsistent", "generator": {"warp_px": 3.0}})
    assert cls.model_validate(only_px).generator.warp == pytest.approx(3.0 / 64)
    both = cls.upgrade_stored({"model": "oracle_inconsistent", "generator": {"warp_px": 3.0, "warp": 0.01}})
    assert both["generator"]["warp"] == 0.01  # warp_px is only read when warp is absent
    # a file holding both section names keeps its `generator` (the old `oracle` is not renamed over it)
    kept = cls.upgrade_stored({"model": "oracle", "generator": {"resolution": 32}, "oracle": {"resolution": 16}})
    assert kept["generator"] == {"resolution": 32}


def _sphere_params():
    """Two spheres of different radii and centres (the batch order must follow them)."""
    a = HeadParams.sphere(0.08, (0.0, 0.01, 0.0))
    b = HeadParams.sphere(0.06, (0.015, -0.01, 0.02))
    return HeadParams.cat([a, b]), torch.tensor([[0.0, 0.01, 0.0], [0.015, -0.01, 0.02]]), torch.tensor([0.08, 0.06])


def test_the_field_of_a_sphere_is_its_signed_distance_and_the_colour_takes_the_radial_normal():
    params, centres, radii = _sphere_params()
    rep = OracleHeads(params)
    points = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(0)) * 0.3 - 0.15
    rel = points - centres[:, None]
    dist = rel.norm(dim=-1) - radii[:, None]
    assert rep.kind == "sdf"  # a signed distance in world units, negative inside
    assert torch.allclose(rep.sdf(points), dist, atol=1e-6)
    field = rep.query(points, torch.zeros_like(points))
    assert field.sigma.shape == (2, 50, 1) and torch.allclose(field.sigma[..., 0], dist, atol=1e-6)
    normals = rel / rel.norm(dim=-1, keepdim=True)
    bidx = torch.tensor([0, 1]).repeat_interleave(50)
    colour = head_radiance(params, bidx, points.reshape(-1, 3), normals.reshape(-1, 3)).reshape(2, 50, 3)
    assert torch.allclose(field.rgb, colour, atol=1e-5)
    assert not torch.allclose(colour[0], colour[1], atol=1e-2)  # the two heads light differently


def test_the_render_of_a_sphere_has_the_ray_sphere_depth_and_hit_mask():
    gen = _generator("oracle", resolution=24)
    params, centres, radii = _sphere_params()
    rep = OracleHeads(params)
    cams = Camera.from_angles(torch.tensor([0.3, -0.2]), torch.tensor([0.1, 0.0]), radius=0.8, fov=20.0)
    out = gen.render(rep, cams, resolution=24)  # an int side: a square image
    assert out.rgb.shape == (2, 3, 24, 24)
    o, d = (x.double() for x in cams.rays(24, 24))
    oc = o - centres.double()[:, None]
    b = (oc * d).sum(-1)
    disc = b ** 2 - (oc.square().sum(-1) - radii.double()[:, None] ** 2)
    t = (-b - disc.clamp_min(0).sqrt()).reshape(2, 1, 24, 24)
    hit = (disc > 0).reshape(2, 1, 24, 24)
    clear = (disc.abs() > 2e-4).reshape(2, 1, 24, 24)  # away from the silhouette, where a pixel may go either way
    assert torch.equal(out.alpha.bool()[clear], hit[clear]) and hit.sum() > 50
    on = hit & clear & out.alpha.bool()
    assert torch.allclose(out.depth[on].double(), t[on], atol=1e-5)
    # on the sphere, the colour is the head's radiance at the hit point with the radial normal
    points = (o + d * t.reshape(2, -1, 1)).float()
    normals = (points - centres[:, None]) / radii[:, None, None]
    bidx = torch.tensor([0, 1]).repeat_interleave(24 * 24)
    colour = head_radiance(params, bidx, points.reshape(-1, 3), normals.reshape(-1, 3)).reshape(2, 24, 24, 3)
    assert torch.allclose(out.rgb.permute(0, 2, 3, 1)[on[:, 0]], colour[on[:, 0]] * 2 - 1, atol=5e-3)


def test_the_field_at_the_rendered_surface_is_zero_and_gives_the_rendered_colour():
    gen = _generator("oracle", resolution=24)
    z = torch.randn(2, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(5))
    cams = Camera.from_angles(torch.tensor([0.2, -0.35]), torch.tensor([0.05, -0.1]))
    rep = gen.represent(z)
    out = gen.render(rep, cams)
    o, d = cams.rays(24, 24)
    points = o + d * out.depth.reshape(2, -1, 1)
    field = rep.query(points, d)
    on = out.alpha.reshape(2, -1) > 0.5
    assert on.sum() > 100
    # the tracer's hits are on the zero set (but for rays that graze the surface, which it accepts within 1e-3)
    surface = field.sigma[..., 0].abs() < 1e-5
    assert float(surface[on].float().mean()) > 0.9  # measured: 0.97 (the rest within the tracer's 1e-3)
    on = on & surface
    # the field's colour (normals from its gradient) is the render's (normals from the tracer's differences)
    rendered = (out.rgb.permute(0, 2, 3, 1).reshape(2, -1, 3) + 1) / 2
    # (but at creases of the blended parts, where the two normals part by up to ~1 %)
    err = (field.rgb[on] - rendered[on]).abs().amax(-1)
    assert float((err < 2e-3).float().mean()) > 0.95 and float(err.max()) < 0.05


def test_the_field_is_empty_outside_its_bounds_and_the_heads_reach_them():
    gen = _generator("oracle")
    rep = gen.represent(torch.randn(6, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(2)))
    b = rep.bounds
    u = torch.linspace(-1, 1, 21)
    uu, vv = (x.reshape(-1) for x in torch.meshgrid(u, u, indexing="ij"))
    faces = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = torch.stack([uu, vv], -1) * b
            faces.append(torch.cat([p[:, :axis], torch.full_like(uu[:, None], sign * b), p[:, axis:]], -1))
    faces = torch.cat(faces).expand(6, -1, -1)
    assert torch.all(rep.sdf(faces) > 0)
    # the neck comes within 10 % of the box: the bound is tight along y
    neck = torch.tensor([0.0, -0.9 * b, 0.0]).expand(6, 1, 3)
    assert torch.all(rep.sdf(neck) < 0)


# ------------------------------------------------------------------------------------ the inconsistent oracle


def _resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) bilinear resampling at pixel centres (align_corners=False), the source index held at 0."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        w = src - i0
        m[i, i0] += 1 - w
        m[i, i1] += w
    return m


def _warp_coords(h: int, w: int, yaw: float, pitch: float, warp: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (H, W) each output pixel reads: the identity grid displaced by 2 warp (the grid spans 2
    per side) times sin(2 pi 1.5 u + phase), phase = 9 yaw + 7 pitch, x moved along y and y along x."""
    gy, gx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    phase = 9.0 * yaw + 7.0 * pitch
    sx = gx + 2 * warp * np.sin(3 * math.pi * gy + phase)
    sy = gy + 2 * warp * np.sin(3 * math.pi * gx - phase)
    # align_corners=False: -1 and 1 are the outer edges of the edge pixels; border padding holds the edge
    return (np.clip(((sy + 1) * h - 1) / 2, 0, h - 1), np.clip(((sx + 1) * w - 1) / 2, 0, w - 1))


def _upsample_warp_matrix(h, w, lh, lw, yaw, pitch, warp) -> np.ndarray:
    """(H W, lh lw): a low-resolution image (row-major) -> upsampled bilinearly, then sampled bilinearly at the warp."""
    up = np.kron(_resize_matrix(h, lh), _resize_matrix(w, lw))
    iy, ix = _warp_coords(h, w, yaw, pitch, warp)
    y0, x0 = np.floor(iy).astype(int), np.floor(ix).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (iy - y0)[..., None], (ix - x0)[..., None]
    row = lambda yy, xx: up[(yy * w + xx).reshape(-1)].reshape(h, w, -1)  # noqa: E731
    a = (row(y0, x0) * (1 - wy) * (1 - wx) + row(y0, x1) * (1 - wy) * wx
         + row(y1, x0) * wy * (1 - wx) + row(y1, x1) * wy * wx)
    return a.reshape(h * w, -1)


YAWS, PITCHES = (0.3, -0.25), (0.1, -0.05)


def _cams():
    return Camera.from_angles(torch.tensor(YAWS), torch.tensor(PITCHES))


def _reference(low: torch.Tensor, h: int, w: int, warp: float) -> np.ndarray:
    """(B, C, H, W) the written-out upsample and warp of a low-resolution stack (B, C, lh, lw), camera b's warp."""
    b, c, lh, lw = low.shape
    out = []
    for i in range(b):
        a = _upsample_warp_matrix(h, w, lh, lw, YAWS[i], PITCHES[i], warp)
        out.append((a @ low[i].double().reshape(c, -1).numpy().T).T.reshape(c, h, w))
    return np.stack(out)


def test_without_noise_the_inconsistent_oracle_is_the_quarter_render_upsampled_and_warped():
    gen = _generator("oracle_inconsistent", noise=0.0, low_noise=0.0)
    z = torch.randn(1, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(4)).expand(2, -1)
    cams = _cams()
    out = gen(z, cams, resolution=(48, 64))  # not square: rows and columns must not swap
    low = render_heads(params_from_latent(z), cams, (12, 16))  # a quarter of each side
    assert torch.equal(out.raw.rgb, low["rgb"]) and torch.equal(out.raw.depth, low["depth"])
    assert torch.equal(out.raw.alpha, low["mask"])
    ref = _reference(torch.cat([low["rgb"], low["depth"], low["mask"], low["depth"] * low["mask"]], 1),
                     48, 64, 1.5 / 64)
    for got, want in ((out.rgb, ref[:, :3]), (out.depth, ref[:, 3:4]), (out.alpha, ref[:, 4:5]),
                      (out.extras["foreground_depth"], ref[:, 5:6])):
        assert got.shape == want.shape and np.allclose(got.numpy(), want, atol=2e-5)
    # the warp moves the image: the plain upsample differs by far more than the tolerance
    plain = _reference(low["rgb"], 48, 64, 0.0)
    assert np.abs(plain - ref[:, :3]).max() > 0.1


def test_the_low_render_is_never_below_8_px_and_follows_the_downscale():
    gen = _generator("oracle_inconsistent", downscale=4, noise=0.0, low_noise=0.0, warp=0.0)
    z = torch.zeros(2, HEAD_LATENT_DIM)
    out = gen(z, _cams(), resolution=24)  # 24 / 4 = 6: held at 8
    low = render_heads(params_from_latent(z), _cams(), 8)
    assert torch.equal(out.raw.rgb, low["rgb"])
    assert np.allclose(out.rgb.numpy(), _reference(low["rgb"], 24, 24, 0.0), atol=2e-5)
    half = _generator("oracle_inconsistent", downscale=2, noise=0.0, low_noise=0.0, warp=0.0)
    assert half(z, _cams(), resolution=(20, 32)).raw.rgb.shape[-2:] == (10, 16)


def _pose_noise(cams, h, w):
    """(B, 3, H, W): each view's standard normal draws, seeded by stable_hash of its 16 cam2world entries in
    micro-units (a view's noise follows from its pose alone, so recorded calibration scores reproduce)."""
    out = []
    for v in cams.to_eg3d().double():
        key = stable_hash(*[int(round(float(x) * 1e6)) for x in v[:16]])
        out.append(torch.randn(3, h, w, generator=torch.Generator().manual_seed(key)))
    return torch.stack(out)


def _noise_of(gen_kwargs, z, cams, res):
    noisy = _generator("oracle_inconsistent", **gen_kwargs)(z, cams, resolution=res).rgb
    clean = _generator("oracle_inconsistent", noise=0.0, low_noise=0.0)(z, cams, resolution=res).rgb
    return noisy, clean


def test_the_fine_noise_is_white_per_camera_and_the_same_for_the_same_camera():
    z = torch.randn(1, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(6)).expand(3, -1)
    cams = Camera.cat([_cams(), _cams()[:1]])  # the third camera repeats the first
    noisy, clean = _noise_of({"noise": 0.05, "low_noise": 0.0}, z, cams, 48)
    n = (noisy - clean) / 0.05
    inside = clean.abs() < 0.8  # no clamping there
    assert torch.allclose(n[0], n[2], atol=1e-5)
    assert torch.allclose(n[inside], _pose_noise(cams, 48, 48)[inside], atol=1e-4)
    for i in (0, 1):
        v = n[i][inside[i]]
        assert abs(float(v.mean())) < 0.05 and float(v.std()) == pytest.approx(1.0, abs=0.05)
        lag = float((n[i, :, :, 1:] * n[i, :, :, :-1]).mean())  # neighbours: uncorrelated
        assert abs(lag) < 0.06
    assert abs(float((n[0] * n[1]).mean())) < 0.06  # other view, other noise
    # in the other order, each camera keeps its noise
    again, _ = _noise_of({"noise": 0.05, "low_noise": 0.0}, z[:2], Camera.cat([cams[1], cams[0]]), 48)
    assert torch.allclose(again.flip(0), noisy[:2], atol=1e-6)
    # the image is clamped to [-1, 1]: strong noise reaches both ends
    loud, _ = _noise_of({"noise": 2.0, "low_noise": 0.0}, z[:1], cams[:1], 48)
    assert float(loud.min()) == -1.0 and float(loud.max()) == 1.0


def test_the_colour_noise_is_added_to_the_low_render_before_the_upsample_and_warp():
    z = torch.randn(1, HEAD_LATENT_DIM, generator=torch.Generator().manual_seed(8)).expand(2, -1)
    cams = _cams()
    noisy, clean = _noise_of({"noise": 0.0, "low_noise": 0.1}, z, cams, 48)
    inside = (noisy.abs() < 0.999) & (clean.abs() < 0.999)
    low = []
    for i in range(2):
        a = _upsample_warp_matrix(48, 48, 12, 12, YAWS[i], PITCHES[i], 1.5 / 64)
        keep = inside[i].all(0).reshape(-1).numpy()
        d = (noisy[i] - clean[i]).double().reshape(3, -1).numpy().T  # (H W, 3)
        x, *_ = np.linalg.lstsq(a[keep], d[keep], rcond=None)
        # the difference is exactly a 12 px field upsampled and warped, not noise at 48 px
        assert np.abs(a[keep] @ x - d[keep]).max() < 1e-4
        low.append(x / 0.1)
        assert np.allclose(x.T.reshape(3, 12, 12) / 0.1, _pose_noise(cams[i:i + 1], 12, 12)[0].numpy(), atol=1e-2)
    for x in low:  # a standard normal per low-resolution pixel and channel (432 values)
        assert abs(x.mean()) < 0.15 and x.std() == pytest.approx(1.0, abs=0.12)
    assert abs(float((low[0] * low[1]).mean())) < 0.15  # and another for another view
