"""SWD against a plain reference: pyramid by scipy convolution, patches and projections one at a time."""

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate

from zoo3d.eval import swd as swd_module
from zoo3d.eval.metric import EvalContext, EvalModel
from zoo3d.eval.protocol import make_protocol
from zoo3d.eval.swd import (SwdMetric, laplacian_pyramid, normalise_descriptors, patch_descriptors, patch_positions,
                            sliced_wasserstein, swd)

pytestmark = pytest.mark.usefixtures("single_thread")

BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _images(n, res, seed, width=None):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, res, width or res, generator=g) * 2 - 1


def _reference_pyramid(images: np.ndarray, min_res: int = 16) -> list[np.ndarray]:
    """Burt-Adelson pyramid, one channel at a time; scipy's 'mirror' padding is torch's 'reflect'."""
    def blur(x, k):
        return np.stack([np.stack([correlate(ch, k, mode="mirror") for ch in img]) for img in x])

    levels, cur = [], images
    while cur.shape[-1] // 2 >= min_res:
        down = blur(cur, BINOMIAL)[..., ::2, ::2]
        up = np.zeros_like(cur)
        up[..., ::2, ::2] = down
        levels.append(cur - blur(up, 4 * BINOMIAL))
        cur = down
    return levels + [cur]


def _reference_patches(level: np.ndarray, ys, xs) -> np.ndarray:
    rows = []
    for i in range(level.shape[0]):
        for p in range(ys.shape[1]):
            y, x = int(ys[i, p]), int(xs[i, p])
            rows.append(level[i, :, y:y + 7, x:x + 7].reshape(-1))  # channel, then row, then column
    return np.stack(rows)


def _reference_normalise(desc: np.ndarray, channels: int) -> np.ndarray:
    d = desc.reshape(len(desc), channels, -1)
    out = np.empty_like(d)
    for c in range(channels):
        out[:, c] = (d[:, c] - d[:, c].mean()) / max(d[:, c].std(), 1e-8)  # numpy's population std, as Karras's
    return out.reshape(len(desc), -1)


def _reference_sliced(a: np.ndarray, b: np.ndarray, gen: torch.Generator) -> float:
    """Four draws of 128 Gaussian directions (the generator's draws in order), one direction at a time."""
    dists = []
    for _ in range(4):
        dirs = torch.randn(a.shape[1], 128, generator=gen).double().numpy()
        for j in range(128):
            d = dirs[:, j] / np.linalg.norm(dirs[:, j])
            dists.append(np.abs(np.sort(a @ d) - np.sort(b @ d)).mean())
    return float(np.mean(dists))


def test_binomial_pyramid_matches_a_plain_convolution():
    x = _images(2, 64, seed=0)
    levels = laplacian_pyramid(x)
    ref = _reference_pyramid(x.double().numpy())
    assert [tuple(lv.shape) for lv in levels] == [(2, 3, 64, 64), (2, 3, 32, 32), (2, 3, 16, 16)]
    for lv, r in zip(levels, ref):
        np.testing.assert_allclose(lv.numpy(), r, atol=2e-6)
    exact = laplacian_pyramid(x.double())  # computed in the images' dtype
    assert all(lv.dtype == torch.float64 for lv in exact)
    for lv, r in zip(exact, ref):
        np.testing.assert_allclose(lv.numpy(), r, rtol=0, atol=1e-12)
    coarser = laplacian_pyramid(x, min_res=8)  # one more band, down to 8 px
    assert [lv.shape[-1] for lv in coarser] == [64, 32, 16, 8]
    np.testing.assert_allclose(coarser[-1].numpy(), _reference_pyramid(x.double().numpy(), 8)[-1], atol=2e-6)


def test_a_constant_image_has_empty_bands_and_keeps_its_value():
    x = torch.full((1, 3, 32, 32), 0.3)
    band, coarse = laplacian_pyramid(x)
    assert band.abs().max() < 1e-6
    torch.testing.assert_close(coarse, torch.full((1, 3, 16, 16), 0.3))


def test_patch_corners_cover_every_valid_position_and_follow_the_generator():
    ys, xs = patch_positions(40, 9, 12, 50, torch.Generator().manual_seed(4))
    assert ys.shape == xs.shape == (40, 50)
    assert set(ys.flatten().tolist()) == {0, 1, 2} and set(xs.flatten().tolist()) == set(range(6))
    g = torch.Generator().manual_seed(4)
    assert torch.equal(ys, torch.randint(0, 3, (40, 50), generator=g))  # rows first, then columns
    assert torch.equal(xs, torch.randint(0, 6, (40, 50), generator=g))


def test_patch_descriptors_are_the_7x7_windows_channel_by_channel():
    level = _images(3, 10, seed=1, width=13)  # not square: rows and columns must not swap
    ys = torch.tensor([[0, 3], [2, 1], [3, 0]])
    xs = torch.tensor([[6, 0], [1, 4], [0, 6]])
    desc = patch_descriptors(level, ys, xs)
    assert torch.equal(desc, torch.from_numpy(_reference_patches(level.numpy(), ys, xs)))


def test_normalised_descriptors_have_zero_mean_unit_std_per_channel():
    g = torch.Generator().manual_seed(2)
    spread = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64).repeat_interleave(49)
    desc = torch.randn(20, 3 * 49, generator=g, dtype=torch.float64) * spread
    desc = desc + torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64).repeat_interleave(49)
    out = normalise_descriptors(desc, 3)
    np.testing.assert_allclose(out.numpy(), _reference_normalise(desc.numpy(), 3), rtol=0, atol=1e-12)
    flat = torch.zeros(5, 2 * 49, dtype=torch.float64)
    flat[:, 49:] = torch.arange(5.0, dtype=torch.float64)[:, None]
    out = normalise_descriptors(flat, 2)  # a constant channel maps to 0, not NaN
    assert torch.equal(out[:, :49], torch.zeros(5, 49, dtype=torch.float64))
    torch.testing.assert_close(out[:, 49:], (flat[:, 49:] - 2) / flat[:, 49:].std(unbiased=False))


def test_sliced_wasserstein_of_a_shift_in_one_dimension_is_the_shift():
    a = torch.randn(64, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # one dimension: every direction is +1 or -1, so each projection moves by exactly 0.25
    assert float(sliced_wasserstein(a, a + 0.25, torch.Generator().manual_seed(0))) == pytest.approx(0.25, abs=1e-12)
    assert float(sliced_wasserstein(a, a, torch.Generator().manual_seed(0))) == 0.0


def test_sliced_wasserstein_matches_one_direction_at_a_time():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(30, 6, generator=g, dtype=torch.float64)
    b = torch.randn(30, 6, generator=g, dtype=torch.float64) * 1.5 + 0.3
    got = float(sliced_wasserstein(a, b, torch.Generator().manual_seed(9)))
    ref = _reference_sliced(a.numpy(), b.numpy(), torch.Generator().manual_seed(9))
    assert got == pytest.approx(ref, rel=1e-12)


def test_swd_matches_the_reference_computation_level_by_level():
    a, b = _images(5, 32, seed=6), _images(4, 32, seed=7) * 0.5  # 5 vs 4 images: the first 4 of each
    out = swd(a, b, patches_per_image=6, seed=11)
    gen = torch.Generator().manual_seed(11)
    ref = []
    for la, lb in zip(_reference_pyramid(a[:4].double().numpy()), _reference_pyramid(b.double().numpy())):
        ys, xs = patch_positions(4, la.shape[-2], la.shape[-1], 6, gen)
        da = _reference_normalise(_reference_patches(la, ys, xs), 3)
        db = _reference_normalise(_reference_patches(lb, ys, xs), 3)
        ref.append(_reference_sliced(da, db, gen) * 1e3)
    assert len(out["per_level"]) == 2
    np.testing.assert_allclose(out["per_level"], ref, rtol=1e-4)
    assert out["mean"] == pytest.approx(sum(out["per_level"]) / 2, rel=1e-12)
    assert swd(a.double(), b.double(), patches_per_image=6, seed=11) == out  # computed in float32 either way
    assert swd(a, b, patches_per_image=6, seed=12)["mean"] != out["mean"]
    small = make_protocol("small")  # the defaults are the protocol's
    assert swd(a, b) == swd(a, b, patches_per_image=small.swd_patches_per_image, seed=small.seed_start)


def test_the_metric_reports_swd_of_the_protocol_sets(monkeypatch):
    fake, real = _images(4, 32, seed=8), _images(4, 32, seed=9)
    model = EvalModel("m", None)
    protocol = make_protocol("small", resolution=32, distribution_images=4, swd_patches_per_image=5, seed_start=3)
    steps = []
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds, progress=steps.append)

    def image_sets(m, c):
        assert m is model and c is ctx
        return fake, real

    monkeypatch.setattr("zoo3d.eval.distribution.protocol_image_sets", image_sets)
    metric = SwdMetric()
    out = metric.evaluate(model, ctx)
    expected = swd(fake, real, patches_per_image=5, seed=3)
    assert out == {"swd": [expected["mean"]], "_meta": {"per_level": expected["per_level"], "generated_images": 4,
                                                        "real_images": 4, "scored_images": 4}}
    assert steps == [1] and ctx.notes == []
    # a smaller real set: SWD scores equal sets, and says how many of each it used
    monkeypatch.setattr("zoo3d.eval.distribution.protocol_image_sets", lambda m, c: (fake, real[:3]))
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=protocol.seeds, progress=steps.append)
    fewer = SwdMetric().evaluate(model, ctx)
    assert fewer["swd"] == [swd(fake[:3], real[:3], patches_per_image=5, seed=3)["mean"]]
    assert fewer["_meta"]["scored_images"] == 3 and fewer["_meta"]["generated_images"] == 4
    assert any("3 generated and 3 real images were scored (of 4 and 3)" in n for n in ctx.notes)
    assert metric.name == "swd" and metric.higher_is_better is False and metric.units == "one"
    assert metric.requires == ("images", "dataset")
    assert metric.protocol_info(ctx) == {"images": 4, "patches_per_image": 5, "patch": 7, "repeats": 4,
                                         "directions": 128, "min_level_res": 16, "scale": 1e3,
                                         "data": "synthetic:heads"}
    ctx.options["data"] = "folder:faces"
    assert metric.protocol_info(ctx)["data"] == "folder:faces"
    assert (swd_module.PATCH, swd_module.REPEATS, swd_module.DIRECTIONS) == (7, 4, 128)
