"""FIR resampling (zoo3d.nn.fir) against EG3D's ``_upfirdn2d_ref`` and StyleGAN2's resampling layers written out.

The reference below follows NVlabs/eg3d torch_utils/ops/upfirdn2d.py: zero-insert up-sampling, pad (negative
values crop), convolve with the flipped filter per channel, keep every ``down``-th pixel; ``upsample2d`` pads
((fw + up - 1) // 2, (fw - up) // 2) and multiplies the filter by up² (its ``gain``). rosinality's StyleGAN2
(StyleSDF's model.py) builds its ``Upsample``/``Blur`` from the same op with a (pad0, pad1) pair for both axes.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.fir import Blur, Upsample, make_kernel, upfirdn2d

pytestmark = pytest.mark.usefixtures("single_thread")


def _upfirdn2d_by_hand(x, f, up=1, down=1, pad=(0, 0)):
    """EG3D's reference upfirdn2d for one (before, after) pad pair on both axes, the filter given as (kh, kw)."""
    b, c, h, w = x.shape
    z = torch.zeros(b, c, h * up, w * up, dtype=x.dtype)
    z[:, :, ::up, ::up] = x  # every input pixel followed by up - 1 zeros along each axis
    p0, p1 = pad
    z = F.pad(z, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    z = z[:, :, max(-p0, 0): z.shape[2] - max(-p1, 0), max(-p0, 0): z.shape[3] - max(-p1, 0)]
    weight = f.flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)  # convolution, not correlation
    return F.conv2d(z, weight, groups=c)[:, :, ::down, ::down]


def _taps_2d(taps):
    """StyleGAN2's make_kernel: the outer product of 1D taps, normalised to sum 1."""
    t = torch.tensor(taps, dtype=torch.float32)
    k = t[None, :] * t[:, None]
    return k / k.sum()


@pytest.mark.parametrize("up,down,pad", [(1, 1, (0, 0)), (1, 1, (2, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)),
                                         (3, 1, (3, 0)), (2, 2, (-1, 2)), (1, 1, (-2, -1)), (1, 3, (0, 2))])
def test_upfirdn2d_matches_eg3d_reference_for_an_asymmetric_kernel(up, down, pad):
    # a (3, 4) kernel with no symmetry, so a missing flip or a swapped axis shows; H != W and several channels
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
    f = torch.randn(3, 4, generator=g)
    out = upfirdn2d(x, f, up=up, down=down, pad=pad)
    want = _upfirdn2d_by_hand(x, f, up=up, down=down, pad=pad)
    assert out.shape == want.shape
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)


def test_make_kernel_is_the_normalised_outer_product_and_normalises_2d_kernels():
    torch.testing.assert_close(make_kernel([1, 3, 3, 1]), _taps_2d([1, 3, 3, 1]))
    torch.testing.assert_close(make_kernel([1, 2]), torch.tensor([[1.0, 2.0], [2.0, 4.0]]) / 9)
    k2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    torch.testing.assert_close(make_kernel(k2), k2 / 10)  # a 2D kernel is normalised as it is
    # float32 whatever the taps (EG3D's setup_filter); the layers cast it to the input's dtype
    assert make_kernel(torch.tensor([1.0, 2.0], dtype=torch.float64)).dtype == torch.float32


@pytest.mark.parametrize("factor", [2, 4])
def test_upsample_is_eg3d_upsample2d_with_the_default_kernel(factor):
    # upsample2d(x, f, up): pad ((fw + up - 1) // 2, (fw - up) // 2), gain up² (StyleGAN2's Upsample pads the same)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    fw = 4
    pad = ((fw + factor - 1) // 2, (fw - factor) // 2)
    want = _upfirdn2d_by_hand(x, _taps_2d([1, 3, 3, 1]) * factor ** 2, up=factor, pad=pad)
    out = Upsample(factor=factor)(x)
    assert out.shape == (2, 3, 5 * factor, 6 * factor)
    torch.testing.assert_close(out, want, rtol=1e-6, atol=1e-6)


def test_upsample_with_another_kernel_uses_it_and_a_constant_keeps_its_value_inside():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 6, 6, generator=g)
    taps = [1, 2, 1]
    pad = ((3 + 2 - 1) // 2, (3 - 2) // 2)
    torch.testing.assert_close(Upsample(taps)(x), _upfirdn2d_by_hand(x, _taps_2d(taps) * 4, up=2, pad=pad))
    # zero insertion keeps a quarter of the pixels; the up² gain restores the constant away from the zero padding
    const = Upsample()(torch.full((1, 1, 6, 6), 0.7))
    torch.testing.assert_close(const[0, 0, 2:-2, 2:-2], torch.full((8, 8), 0.7))
    assert "kernel" not in Upsample().state_dict()  # a fixed buffer, not a checkpoint entry


def test_blur_is_the_padded_low_pass_and_the_upsample_factor_its_gain():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 6, 5, generator=g)
    blur = Blur(pad=(2, 1))
    torch.testing.assert_close(blur(x), _upfirdn2d_by_hand(x, _taps_2d([1, 3, 3, 1]), pad=(2, 1)))
    assert blur(x).shape == (2, 3, 6, 5)  # pad (2, 1) around a 4-tap kernel keeps the size
    torch.testing.assert_close(Blur([1, 2, 1])(x), _upfirdn2d_by_hand(x, _taps_2d([1, 2, 1]), pad=(1, 1)))
    # StyleGAN2's Blur after an up-sampling conv: the kernel times factor²
    torch.testing.assert_close(Blur(pad=(2, 1), upsample_factor=2)(x), 4 * blur(x))
    assert "kernel" not in blur.state_dict()  # a fixed buffer, not a checkpoint entry
