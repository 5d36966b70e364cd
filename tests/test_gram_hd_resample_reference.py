"""GRAM-HD's Down_s (zoo3d_gram_hd.resample) against the authors' torch_utils/interpolate.py written out.

Upstream: W(x) = 1.5|x|³ - 2.5|x|² + 1 for |x| <= 1, -0.5|x|³ + 2.5|x|² - 4|x| + 2 for |x| < 2, else 0; the
4s taps W((i - 2s + 0.5) / s) / s (i = 0..4s-1), their outer product on each channel's diagonal of a
(C, C, 4s, 4s) kernel, replicate padding int(1.5 s), a stride-s convolution.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d_gram_hd.resample import bicubic_downsample, bicubic_kernel, keys_cubic

pytestmark = pytest.mark.usefixtures("single_thread")


def _w(x):
    x = abs(x)
    if x <= 1:
        return 1.5 * x ** 3 - 2.5 * x ** 2 + 1
    if x < 2:
        return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2
    return 0.0


def _upstream_kernel(s):
    taps = torch.tensor([[_w((i - 2 * s + 0.5) / s) / s] for i in range(4 * s)], dtype=torch.float64)
    return taps @ taps.T


def _upstream_downsample(x, s):
    c = x.shape[1]
    kernel = torch.zeros(c, c, 4 * s, 4 * s, dtype=x.dtype)
    for i in range(c):
        kernel[i, i] = _upstream_kernel(s)
    x = F.pad(x, [int(1.5 * s)] * 4, mode="replicate")
    return F.conv2d(x, kernel, stride=s)


@pytest.mark.parametrize("factor", [2, 4, 6])
def test_kernel_is_the_authors(factor):
    torch.testing.assert_close(bicubic_kernel(factor, dtype=torch.float64), _upstream_kernel(factor),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("factor", [2, 4, 6])
def test_downsampling_matches_the_authors_at_every_pixel_borders_included(factor):
    g = torch.Generator().manual_seed(factor)
    x = torch.randn(2, 3, 4 * factor, 3 * factor, generator=g, dtype=torch.float64)  # non-square, 3 channels
    out = bicubic_downsample(x, factor)
    assert out.shape == (2, 3, 4, 3)
    torch.testing.assert_close(out, _upstream_downsample(x, factor), rtol=1e-12, atol=1e-12)


def _keys(x, a):
    """Keys' kernel for any a, one value at a time."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0


def test_keys_kernel_for_another_a_reaches_the_kernel_and_the_downsampling():
    a, s = -0.75, 2
    # W(0) = 1, W(1) = W(2) = 0 for every a; W(0.5) = (a + 2)/8 - (a + 3)/4 + 1, W(1.5) = a/8; W'(1) = a on both sides
    d = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, -1.5], dtype=torch.float64)
    want = torch.tensor([1.0, (a + 2) / 8 - (a + 3) / 4 + 1, 0.0, a / 8, 0.0, a / 8], dtype=torch.float64)
    torch.testing.assert_close(keys_cubic(d, a), want)
    eps = 1e-6
    one = torch.tensor([1 - eps, 1.0, 1 + eps], dtype=torch.float64)
    w = keys_cubic(one, a)
    torch.testing.assert_close((w[1] - w[0]) / eps, torch.tensor(a, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close((w[2] - w[1]) / eps, torch.tensor(a, dtype=torch.float64), atol=1e-5, rtol=0)
    # that a reaches the kernel's taps and the down-sampling
    taps = torch.tensor([_keys((i - 2 * s + 0.5) / s, a) for i in range(4 * s)], dtype=torch.float64)
    kernel = torch.outer(taps, taps) / taps.sum() ** 2
    torch.testing.assert_close(bicubic_kernel(s, a, dtype=torch.float64), kernel, rtol=1e-12, atol=1e-12)
    x = torch.randn(1, 2, 8, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    padded = F.pad(x.reshape(2, 1, 8, 6), [3] * 4, mode="replicate")
    want = F.conv2d(padded, kernel[None, None], stride=s).reshape(1, 2, 4, 3)
    torch.testing.assert_close(bicubic_downsample(x, s, a), want, rtol=1e-12, atol=1e-12)


def test_rejects_sizes_the_factor_does_not_divide():
    with pytest.raises(ValueError, match="not divisible"):
        bicubic_downsample(torch.zeros(1, 1, 8, 10), 4)
    with pytest.raises(ValueError, match="not divisible"):
        bicubic_downsample(torch.zeros(1, 1, 10, 8), 4)
    with pytest.raises(ValueError, match="even integer"):
        bicubic_downsample(torch.zeros(1, 1, 8, 8), -2)
