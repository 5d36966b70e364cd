"""The detail metric against its definition computed directly in NumPy: per image, the grey level with its mean
removed, its power spectrum, and the share of that power at max(|k_y| / H, |k_x| / W) above 1/4 (k the signed
integer frequencies); the score is the generated images' mean share over the reference's."""

import math

import numpy as np
import pytest
import torch

from zoo3d.eval.detail import CUTOFF_FRACTION, DetailMetric, detail, high_band_share
from zoo3d.eval.metric import EvalContext
from zoo3d.eval.protocol import make_protocol


def _share(image: np.ndarray) -> float:
    """The high-band share of one image (C, H, W), from the definition."""
    grey = image.astype(np.float64).mean(0)
    grey = grey - grey.mean()
    power = np.abs(np.fft.fft2(grey)) ** 2
    h, w = grey.shape
    ky = np.array([min(k, h - k) for k in range(h)]) / h  # |signed frequency| in cycles per sample
    kx = np.array([min(k, w - k) for k in range(w)]) / w
    high = np.maximum(ky[:, None], kx[None, :]) > 0.25
    total = power.sum()
    return float(power[high].sum() / total) if total > 0 else 0.0


def _images(n, h, w, seed, smooth):
    """n colour images of white noise, the later ones box-blurred over ``smooth`` pixels: shares that differ."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, 3, h, w))
    for i in range(n):
        k = 1 + (i * smooth) // max(n - 1, 1)
        for _ in range(k - 1):
            x[i] = (x[i] + np.roll(x[i], 1, -1) + np.roll(x[i], 1, -2)) / 3
    return x


@pytest.mark.parametrize("shape", [(32, 32), (24, 40), (40, 18)])
def test_each_share_is_the_definition_computed_in_numpy(shape):
    h, w = shape
    # an offset per image and channel: not detail, whatever the grey level it adds
    offsets = np.linspace(0.1, 0.9, 15).reshape(5, 3)[:, :, None, None] ** 2
    images = _images(5, h, w, seed=h * w, smooth=4) + offsets
    shares = high_band_share(torch.from_numpy(images).float())
    assert shares.dtype == torch.float64 and shares.shape == (5,)
    expected = [_share(im) for im in images.astype(np.float32)]
    assert np.allclose(shares.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert len(set(np.round(expected, 6))) == 5  # the images differ in detail, so the shares do


def test_the_score_is_the_ratio_of_the_mean_shares_and_the_record_holds_both():
    gen = torch.from_numpy(_images(6, 24, 24, seed=1, smooth=5))
    ref = torch.from_numpy(_images(4, 24, 24, seed=2, smooth=1))
    fake = np.mean([_share(im) for im in gen.numpy()])
    real = np.mean([_share(im) for im in ref.numpy()])
    out = detail(gen, ref)
    assert out["generated"] == pytest.approx(fake, rel=1e-12) and out["dataset"] == pytest.approx(real, rel=1e-12)
    assert out["score"] == pytest.approx(fake / real, rel=1e-12) and out["score"] < 0.9
    # through the metric: one score, both shares in the record
    ctx = EvalContext(protocol=make_protocol("small", resolution=24), device=torch.device("cpu"), seeds=[0])
    scored = DetailMetric().score_sets(gen, ref, ctx)
    assert scored["detail"] == [pytest.approx(fake / real, rel=1e-12)]
    assert scored["_meta"] == {"generated_share": pytest.approx(fake, rel=1e-12),
                               "dataset_share": pytest.approx(real, rel=1e-12)}


def test_a_reference_without_variance_has_no_score_and_a_flat_image_no_share():
    flat = torch.full((2, 3, 16, 16), 0.25)
    noise = torch.from_numpy(_images(2, 16, 16, seed=3, smooth=1))
    assert torch.equal(high_band_share(flat), torch.zeros(2, dtype=torch.float64))
    out = detail(noise, flat)
    assert out["dataset"] == 0.0 and math.isnan(out["score"])
    assert detail(flat, noise)["score"] == 0.0
    # a faint image (total power below 1) keeps its share: the floor on the total is far below any real image's
    grain = torch.from_numpy(_images(1, 16, 16, seed=4, smooth=1))
    faint = flat[:1].double() + 1e-4 * grain
    assert float(high_band_share(faint)[0]) == pytest.approx(_share(grain[0].numpy()), rel=1e-6)


def test_images_of_different_sizes_are_refused_in_either_dimension():
    a = torch.zeros(1, 3, 16, 16)
    for other, size in ((torch.zeros(1, 3, 16, 12), r"\(16, 12\)"), (torch.zeros(1, 3, 12, 16), r"\(12, 16\)")):
        with pytest.raises(ValueError, match=r"images of one size, got \(16, 16\) and " + size):
            detail(a, other)
    assert detail(torch.zeros(2, 3, 16, 16), torch.zeros(5, 3, 16, 16))["dataset"] == 0.0  # counts may differ


def test_the_protocol_info_states_the_band_the_sets_and_the_data():
    protocol = make_protocol("small", resolution=32, distribution_images=24)
    ctx = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0], options={"data": "folder:x"})
    info = DetailMetric().protocol_info(ctx)
    assert info["images"] == 24 and info["psi"] == protocol.psi_distribution and info["data"] == "folder:x"
    assert f"{CUTOFF_FRACTION:g} x R cycles" in info["score"] and CUTOFF_FRACTION == 0.25
    bare = EvalContext(protocol=protocol, device=torch.device("cpu"), seeds=[0])
    assert DetailMetric().protocol_info(bare)["data"] == "synthetic:heads"
    assert DetailMetric.name == "detail" and DetailMetric.higher_is_better is True
