"""The shared antialiased resize keeps a float64 image in float64 (a float64 model's output resize)."""

from __future__ import annotations

import torch
from torch.autograd import gradcheck

from zoo3d.nn.resize import resize


def test_a_float64_ramp_is_resized_to_its_closed_form_in_float64():
    # f(x) = x / 3 at input pixel centres 0..15: halving keeps it linear, interior output j is (2j + 0.5) / 3;
    # a resize rounded through float32 misses that by ~1e-7
    ramp = (torch.arange(16, dtype=torch.float64) / 3).expand(1, 1, 4, 16)
    out = resize(ramp, (4, 8))
    assert out.dtype == torch.float64
    expected = ((2 * torch.arange(1, 7, dtype=torch.float64) + 0.5) / 3).expand(4, 6)
    torch.testing.assert_close(out[0, 0, :, 1:-1], expected, rtol=0, atol=1e-14)


def test_the_float64_resize_passes_gradcheck_down_and_up():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    assert gradcheck(lambda t: resize(t, 3), (x,))
    assert gradcheck(lambda t: resize(t, (9, 12)), (x,))
