"""upfirdn2d as one depthwise convolution against the filter run map by map (each of the B·C maps its own image).

The depthwise form runs the same sums as B·C one-channel images through one filter, so its values and input
gradients must equal those up to fp32 rounding, for the layouts StyleGAN2's layers use: the blur before a
stride-2 conv, the ×2 up-sampling, the blur after a transposed conv, and a channels-last input.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.fir import Blur, Upsample, make_kernel, upfirdn2d

pytestmark = pytest.mark.usefixtures("single_thread")


def per_map(x, kernel, up=1, down=1, pad=(0, 0)):
    """Every (b, c) map filtered on its own: zero-insert, pad or crop, the flipped kernel, every down-th pixel."""
    b, c, h, w = x.shape
    out = []
    for i in range(b):
        row = []
        for j in range(c):
            m = torch.zeros(h * up, w * up, dtype=x.dtype)
            m = m.index_put((torch.arange(h)[:, None] * up, torch.arange(w)[None, :] * up), x[i, j])
            p0, p1 = pad
            m = F.pad(m[None, None], [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])[0, 0]
            m = m[max(-p0, 0): m.shape[0] - max(-p1, 0), max(-p0, 0): m.shape[1] - max(-p1, 0)]
            y = F.conv2d(m[None, None], kernel.flip([0, 1]).to(x.dtype)[None, None], stride=down)
            row.append(y[0, 0])
        out.append(torch.stack(row))
    return torch.stack(out)


CASES = [  # (up, down, pad, kernel gain): StyleGAN2's blur + stride-2 conv, Upsample(2), the blur after an up-conv
    (1, 2, (1, 1), 1), (2, 1, (2, 1), 4), (1, 1, (2, 1), 4), (1, 1, (1, 1), 1)]


@pytest.mark.parametrize("up,down,pad,gain", CASES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_values_and_input_gradients_equal_the_map_by_map_filter(up, down, pad, gain, channels_last):
    g = torch.Generator().manual_seed(up * 10 + down + pad[0])
    x = torch.randn(2, 5, 9, 7, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    kernel = make_kernel([1, 3, 3, 1]) * gain
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got, want = upfirdn2d(a, kernel, up=up, down=down, pad=pad), per_map(b, kernel, up=up, down=down, pad=pad)
    upstream = torch.randn(want.shape, generator=g)
    (got * upstream).sum().backward()
    (want * upstream).sum().backward()
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-6)
    assert want.abs().max() > 0.3 and b.grad.abs().max() > 0.1  # numbers that carry information


def test_an_asymmetric_kernel_and_a_crop_keep_each_map_apart():
    """A (3, 4) kernel with no symmetry and a negative pad on 3 channels whose maps differ in scale by 100:
    any mixing of channels or a swapped axis would show."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 3, 8, 6, generator=g) * torch.tensor([1.0, 100.0, 0.01])[None, :, None, None]
    kernel = torch.randn(3, 4, generator=g)
    got, want = upfirdn2d(x, kernel, pad=(-1, 2)), per_map(x, kernel, pad=(-1, 2))
    for c in range(3):
        torch.testing.assert_close(got[:, c], want[:, c], rtol=1e-6, atol=1e-6 * want[:, c].abs().max().item())


def test_the_layers_filter_each_map_on_its_own():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(3, 4, 6, 6, generator=g)
    up = Upsample()
    torch.testing.assert_close(up(x), per_map(x, up.kernel, up=2, pad=up.pad), rtol=1e-6, atol=1e-6)
    blur = Blur(pad=(2, 1), upsample_factor=2)
    torch.testing.assert_close(blur(x), per_map(x, blur.kernel, pad=(2, 1)), rtol=1e-6, atol=1e-6)
