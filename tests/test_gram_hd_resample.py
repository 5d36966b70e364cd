"""Fixed Keys-bicubic down-sampling (GRAM-HD's Down_s)."""

import pytest
import torch

from zoo3d_gram_hd.resample import bicubic_downsample, bicubic_kernel, keys_cubic


def test_keys_kernel_values():
    d = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    # a = -0.5: W(0) = 1, W(1) = W(2) = 0, W(0.5) = 0.5625, W(1.5) = -0.0625.
    torch.testing.assert_close(keys_cubic(d), torch.tensor([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0]))
    k = bicubic_kernel(4)
    assert k.shape == (16, 16)
    torch.testing.assert_close(k.sum(), torch.tensor(1.0))
    torch.testing.assert_close(k, k.flip(0).flip(1))


def test_constant_stays_constant():
    x = torch.full((2, 3, 16, 16), 0.37)
    torch.testing.assert_close(bicubic_downsample(x, 4), torch.full((2, 3, 4, 4), 0.37))


@pytest.mark.parametrize("factor", [2, 4])
def test_linear_ramp_is_sampled_at_output_pixel_centres(factor):
    n = 8 * factor
    ramp = torch.arange(n, dtype=torch.float32)
    x = (ramp[None, :] + 2 * ramp[:, None])[None, None]  # value = col + 2 row
    out = bicubic_downsample(x, factor)[0, 0]
    centres = (torch.arange(8) + 0.5) * factor - 0.5
    expected = centres[None, :] + 2 * centres[:, None]
    # Near the borders the 4s-tap window reaches the replicate padding.
    torch.testing.assert_close(out[2:-2, 2:-2], expected[2:-2, 2:-2])


def test_rejects_odd_factor():
    with pytest.raises(ValueError):
        bicubic_downsample(torch.zeros(1, 1, 9, 9), 3)
    assert torch.equal(bicubic_downsample(torch.ones(1, 1, 5, 5), 1), torch.ones(1, 1, 5, 5))
