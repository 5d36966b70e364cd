"""Synthetic heads: analytic depth, mirror symmetry, determinism, scale."""

import math

import pytest
import torch

from zoo3d.cameras import Camera, CameraPrior
from zoo3d.config import DataConfig
from zoo3d.data import build_dataset
from zoo3d.data.head_model import BACKGROUND_Z, HeadParams, head_sdf
from zoo3d.data.synthetic import SyntheticHeads, instance_params_and_camera, render_heads, sample_head_params


def _ray_sphere(origins, dirs, centre, radius):
    oc = origins - centre
    b = (oc * dirs).sum(-1)
    c = (oc * oc).sum(-1) - radius ** 2
    disc = b * b - c
    return -b - torch.sqrt(disc.clamp_min(0)), disc > 0


def test_sphere_head_depth_matches_analytic_ray_sphere_intersection():
    centre, radius = torch.tensor([0.01, -0.005, 0.0]), 0.08
    cams = Camera.from_angles(torch.tensor([0.0, 0.35, -0.5]), torch.tensor([0.0, 0.1, -0.2]))
    params = HeadParams.sphere(radius, centre.tolist(), n=3)
    out = render_heads(params, cams, 48)
    origins, dirs = cams.rays(48, 48)
    t, hit = _ray_sphere(origins, dirs, centre, radius)
    t_bg = (origins[..., 2] - BACKGROUND_Z) / -dirs[..., 2]
    depth, mask = out["depth"].reshape(3, -1), out["mask"].reshape(3, -1)
    inner = _ray_sphere(origins, dirs, centre, radius - 0.002)[1]  # away from the silhouette
    outer = ~_ray_sphere(origins, dirs, centre, radius + 0.002)[1]
    assert torch.all(mask[inner] == 1) and torch.all(mask[outer] == 0)
    assert torch.allclose(depth[inner], t[inner], atol=2e-5)
    assert torch.allclose(depth[outer], t_bg[outer], atol=1e-5)


def test_every_head_pixel_lies_on_the_surface_in_front_of_the_background_outline_included():
    """Rays that graze a head are accepted within the tracer's tolerance; their depth must stay on the surface."""
    from zoo3d.data.synthetic import instance_params_and_camera

    heads = SyntheticHeads(64, count=16, seed=0, cache=False)
    out = heads.render(list(range(16)))
    params, cams = instance_params_and_camera(0, range(16))
    origins, dirs = cams.rays(64, 64)
    depth, hit = out["depth"].reshape(16, -1), out["mask"].reshape(16, -1) > 0.5
    t_bg = (origins[..., 2] - BACKGROUND_Z) / -dirs[..., 2]
    assert int(hit.sum()) > 30_000  # heads fill the views
    assert bool((depth[hit] <= t_bg[hit] + 1e-6).all())  # none behind the background plane
    sdf = head_sdf(params, torch.addcmul(origins, dirs, depth[..., None]))
    assert float(sdf[hit].abs().max()) < 2e-3  # on the surface (within the tracer's tolerance), not 0.1 off it


def test_mirrored_image_equals_render_at_mirrored_pose():
    params = sample_head_params(2, seed=7)
    cams = Camera.from_angles(torch.tensor([0.3, -0.2]), torch.tensor([0.05, -0.1]))
    out = render_heads(params, cams, 40)
    mirrored = render_heads(params.mirrored(), cams.mirror(), 40)
    # the mirrored world seen by the mirrored camera: the same pixels up to float error
    assert torch.equal(out["mask"].flip(-1), mirrored["mask"])
    assert torch.allclose(out["rgb"].flip(-1), mirrored["rgb"], atol=0.02)
    assert torch.allclose(out["depth"].flip(-1), mirrored["depth"], atol=1e-4)
    assert not torch.allclose(out["rgb"].flip(-1), out["rgb"], atol=0.1)  # the heads are not symmetric


def test_mirrored_params_reflect_the_sdf():
    params = sample_head_params(3, seed=1)
    pts = (torch.rand(3, 200, 3, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.25
    flipped = pts * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(head_sdf(params.mirrored(), pts), head_sdf(params, flipped), atol=1e-6)


def test_dataset_mirror_flips_image_and_pose_consistently():
    ds = SyntheticHeads(32, count=12, seed=3, mirror=True, block=12)
    plain = SyntheticHeads(32, count=12, seed=3, mirror=False, block=12)
    flags = [ds[i]["mirrored"] for i in range(12)]
    assert any(flags) and not all(flags)  # p = 1/2, deterministic per (seed, index, epoch)
    i = flags.index(True)
    a, b = ds[i], plain[i]
    assert torch.equal(a["image"], b["image"].flip(-1))
    yaw_a = Camera.from_eg3d(a["camera"][None]).to_angles()["yaw"]
    yaw_b = Camera.from_eg3d(b["camera"][None]).to_angles()["yaw"]
    assert torch.allclose(yaw_a, -yaw_b, atol=1e-5)
    ds.set_epoch(1)
    assert [ds[j]["mirrored"] for j in range(12)] != flags


def test_items_are_deterministic_and_cached_equals_uncached():
    cached = build_dataset(DataConfig(spec="synthetic:heads?count=8&seed=5", mirror=False), 32)
    fresh = SyntheticHeads(32, count=8, seed=5, cache=False)
    for i in (0, 6):
        a, b = cached[i], fresh[i]
        assert torch.allclose(a["image"], b["image"], atol=1.5 / 127.5)
        assert torch.equal(a["camera"], b["camera"])
        assert torch.allclose(a["depth"], b["depth"], atol=1e-4)
    assert not torch.equal(cached[0]["image"], cached[1]["image"])
    bounded = SyntheticHeads(32, count=8, seed=5, block=2, cache_mb=0)  # keeps one block's worth of items
    assert torch.equal(bounded[6]["image"], cached[6]["image"]) and torch.equal(bounded[0]["image"], cached[0]["image"])
    assert sorted(bounded._items) == [0, 1]
    other_seed = SyntheticHeads(32, count=8, seed=6, cache=False)
    assert not torch.equal(other_seed[0]["camera"], fresh[0]["camera"])


def test_heads_fit_the_gram_box_and_fill_a_frontal_view():
    params = sample_head_params(16, seed=0)
    # the extreme members of the family (latents at +-3 sigma saturate through tanh)
    n = 2000
    g = torch.Generator().manual_seed(1)
    box = (torch.rand(16, n, 3, generator=g) * 2 - 1) * 0.13
    outside = (box.abs() > 0.12).any(-1) & (box[..., 1] > -0.06)  # the neck leaves the box at the bottom
    d = head_sdf(params, box)
    assert torch.all(d[outside] > 0)
    frontal = render_heads(params[:4], Camera.from_angles([0.0] * 4, 0.0), 32)
    coverage = frontal["mask"].mean().item()
    assert 0.35 < coverage < 0.9
    depth = frontal["depth"][frontal["mask"] > 0]
    assert depth.min() > 1 - 0.115 and depth.max() < 1.12


def test_prior_pose_statistics_follow_the_ffhq_like_prior():
    ds = SyntheticHeads(32, count=400, seed=0, cache=False)
    from zoo3d.data.synthetic import instance_params_and_camera

    _, cams = instance_params_and_camera(0, range(400), CameraPrior())
    a = cams.to_angles()
    assert abs(a["yaw"].std().item() - 0.3) < 0.04 and abs(a["pitch"].std().item() - 0.155) < 0.02
    assert torch.allclose(a["radius"], torch.ones(400)) and abs(a["fov"].mean().item() - 12.0) < 1e-4
    assert len(ds) == 400 and math.isfinite(float(ds.camera_prior.yaw_std))


def test_ray_bounds_contain_every_head_of_the_family():
    from zoo3d.data.head_model import HEAD_BOUND_ELLIPSOID, HEAD_LATENT_DIM, NECK_BOUND_BOX, params_from_latent

    g = torch.Generator().manual_seed(0)
    extreme = params_from_latent(torch.sign(torch.randn(24, HEAD_LATENT_DIM, generator=g)) * 4)  # tanh saturated
    centre, radii = torch.tensor(HEAD_BOUND_ELLIPSOID[0]), torch.tensor(HEAD_BOUND_ELLIPSOID[1])
    on_ellipsoid = centre + torch.nn.functional.normalize(torch.randn(24, 400, 3, generator=g), dim=-1) * radii
    lo, hi = torch.tensor(NECK_BOUND_BOX[0]), torch.tensor(NECK_BOUND_BOX[1])
    in_box = ((on_ellipsoid > lo) & (on_ellipsoid < hi)).all(-1)
    assert head_sdf(extreme, on_ellipsoid)[~in_box].min() > 0


def _counting_renders(monkeypatch, ds: SyntheticHeads) -> list[list[int]]:
    """The index lists ``ds`` renders from now on, one list per render call."""
    calls, render = [], ds.render
    monkeypatch.setattr(ds, "render", lambda indices: calls.append(list(indices)) or render(indices))
    return calls


def test_a_batched_read_renders_only_the_batchs_new_items_and_gives_the_single_reads_items(monkeypatch):
    ds = SyntheticHeads(32, count=96, seed=5, mirror=True)  # blocks of 32
    calls = _counting_renders(monkeypatch, ds)
    batch = ds.__getitems__([70, 3, 41, 3])
    assert calls == [[70, 3, 41]]  # together, once each, not the 96 heads of their three blocks
    batch += ds.__getitems__([41, 3, 9])  # 9 is mirrored in epoch 0
    assert calls[1:] == [[9]]
    ds[40]  # a single read renders the rest of its block: a reader in order pays one call per block
    assert calls[2:] == [[i for i in range(32, 64) if i != 41]]
    plain = SyntheticHeads(32, count=96, seed=5, mirror=True, cache=False)
    order = [70, 3, 41, 3, 41, 3, 9]
    uncached = plain.__getitems__(order)
    assert [item["mirrored"] for item in batch] == [False] * 6 + [True]
    for item, single, other in zip(batch, [plain[i] for i in order], uncached, strict=True):
        assert item["index"] == single["index"] and item["mirrored"] == single["mirrored"]
        assert torch.allclose(item["image"], single["image"], atol=1.5 / 127.5)
        assert torch.equal(item["camera"], single["camera"]) and torch.equal(other["image"], single["image"])


def test_the_training_stream_renders_its_next_heads_once_a_block_at_a_time(monkeypatch):
    from zoo3d.train.data import BatchStream

    ds = SyntheticHeads(32, count=256, seed=1)  # eight blocks of 32
    calls = _counting_renders(monkeypatch, ds)
    stream = BatchStream(ds, batch_size=4, seed=0)
    seen = [stream.next(torch.device("cpu")).extras["index"].tolist() for _ in range(10)]
    ahead = BatchStream(SyntheticHeads(32, count=256, seed=1), batch_size=4, seed=0)
    order = [[i for i, _ in b] for b in ahead._epoch_batches(0)[:16]]  # (index, epoch) items
    assert seen == order[:10]  # the same batches as without the look-ahead
    # batches 0-7 in one call before the first is read, 8-15 before the ninth: the items of those batches,
    # each once, not the blocks of the dataset around them
    assert calls == [[i for b in order[:8] for i in b], [i for b in order[8:] for i in b]]
    assert len({i for call in calls for i in call}) == 64


def test_rendering_a_block_at_once_gives_the_heads_rendered_four_at_a_time():
    ds = SyntheticHeads(32, count=64, seed=2)
    block = ds.render(list(range(32)))
    fours = [ds.render(list(range(k, k + 4))) for k in range(0, 32, 4)]
    for key in block:
        assert torch.equal(block[key], torch.cat([f[key] for f in fours])), key


def test_indexing_a_batch_of_heads_with_a_negative_int_gives_that_head():
    from zoo3d.data.head_model import sample_head_params

    heads = sample_head_params(3, seed=4)
    assert torch.equal(heads[-1].geometry, heads.geometry[2:3]) and torch.equal(heads[-3].geometry, heads.geometry[:1])
    with pytest.raises(IndexError):
        heads[3]


def test_the_cache_option_takes_on_off_words_and_refuses_anything_else():
    """``cache=maybe`` was read as on (anything not an off word was); now only the on and off words are taken."""
    import pytest

    from zoo3d.data.synthetic import parse_options
    from zoo3d.errors import UserError

    for word, on in [("1", True), ("TRUE", True), ("yes", True), ("on", True),
                     ("0", False), ("false", False), ("No", False), ("off", False)]:
        assert parse_options({"cache": word}) == {"cache": on}, word
    with pytest.raises(UserError, match=r"'cache=maybe' .* not a valid switch \(1/true/yes/on or 0/false/no/off\)"):
        parse_options({"cache": "maybe"})
    with pytest.raises(UserError, match="'count=ten' .* not a valid int"):
        parse_options({"count": "ten"})


def test_a_float64_default_dtype_draws_the_same_heads_and_cameras():
    """torch draws other numbers in float64 than in float32: under a notebook's float64 default, ``synthetic:heads``
    served other heads, seen from other cameras, for the same seed and index."""
    single, cams = instance_params_and_camera(0, [0, 5])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        double, cams64 = instance_params_and_camera(0, [0, 5])
    finally:
        torch.set_default_dtype(previous)
    assert double.geometry.dtype == torch.float64
    torch.testing.assert_close(double.geometry, single.geometry.double(), rtol=0, atol=1e-5)
    torch.testing.assert_close(double.noise_phase, single.noise_phase.double(), rtol=0, atol=1e-5)
    torch.testing.assert_close(cams64.cam2world, cams.cam2world.to(cams64.cam2world.dtype), rtol=0, atol=1e-5)
