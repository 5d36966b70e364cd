"""GRAM-HD's consistency loss and EG3D's density regulariser keep a float64 model's float64 (bf16 under
autocast is still widened to float32): each meets its closed form to float64 precision."""

from __future__ import annotations

import torch
from torch.autograd import gradcheck

from zoo3d_gram_hd.generator import ManifoldTextures
from zoo3d_gram_hd.losses import consistency_loss
from zoo3d_triplane.regularizers import density_regularization

F64 = torch.float64


def test_a_float64_colour_shift_costs_exactly_delta_squared_times_three_quarters():
    # adding delta to every HR rgb texel (the background's too) costs delta^2 x 3/4 (rgb is 3 of 4 channels)
    g = torch.Generator().manual_seed(1)
    B, N, h, s, delta = 1, 2, 8, 2, 0.1 / 3
    lr_maps = torch.rand(B, N, 6, 1, 1, generator=g, dtype=F64).expand(B, N, 6, h, h)
    lr_bg = torch.rand(B, 3, 1, 1, generator=g, dtype=F64).expand(B, 3, h, h)
    shift = torch.tensor([delta, delta, delta, 0.0], dtype=F64).reshape(1, 1, 4, 1, 1)
    hr_maps = (lr_maps[:, :, :4, :1, :1] + shift).expand(B, N, 4, h * s, h * s)
    hr_bg = (lr_bg[..., :1, :1] + delta).expand(B, 3, h * s, h * s)
    tex = ManifoldTextures(lr_maps=lr_maps, lr_background=lr_bg, hr_maps=hr_maps, hr_background=hr_bg)
    hr_image = torch.full((B, 3, h * s, h * s), delta, dtype=F64)
    image_term, map_term = consistency_loss(hr_image, torch.zeros(B, 3, h, h, dtype=F64), tex)
    assert image_term.dtype == map_term.dtype == F64
    torch.testing.assert_close(image_term, torch.tensor(delta ** 2, dtype=F64), rtol=1e-13, atol=0)
    torch.testing.assert_close(map_term, torch.tensor(delta ** 2 * 3 / 4, dtype=F64), rtol=1e-13, atol=0)


class _LinearScene:
    """A scene whose raw density is a . x: |sigma(x) - sigma(x + eps)| = |a . eps| whatever x."""

    density_scale = 4.0

    def __init__(self, a):
        self.a = a
        self.planes = torch.zeros(1, 3, 1, 2, 2, dtype=a.dtype)

    def decode(self, points):
        return (points @ self.a)[..., None], None


def test_a_float64_density_regulariser_is_the_mean_of_a_dot_eps_and_passes_gradcheck():
    a = torch.tensor([0.3, -1.7, 2.2], dtype=F64, requires_grad=True)
    n, perturb = 64, 0.004
    loss = density_regularization(_LinearScene(a), n, perturb, generator=torch.Generator().manual_seed(0))
    assert loss.dtype == F64
    # the same draws (x from U, then eps from N, made in float32 on the CPU: the same points in every dtype), in
    # EG3D units of 1 / 4; a loss taken in float32 misses this by ~5e-8
    g = torch.Generator().manual_seed(0)
    torch.rand(1, n, 3, generator=g)
    eps = (torch.randn(1, n, 3, generator=g) * perturb / 4.0).double()
    torch.testing.assert_close(loss, (eps @ a.detach()).abs().mean(), rtol=1e-12, atol=0)
    assert gradcheck(lambda w: density_regularization(_LinearScene(w), n, perturb,
                                                      generator=torch.Generator().manual_seed(0)), (a,))
