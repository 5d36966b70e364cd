"""Inversion's reconstruction losses and the image metrics keep float64 images in float64 (the optimisation
inverter works in its generator's dtype): gradients pass gradcheck, PSNR meets its closed form to 1e-10."""

import math

import pytest
import torch
from torch.autograd import gradcheck

from zoo3d.eval.image_metrics import psnr, ssim
from zoo3d.invert.losses import PerceptualLoss, pixel_loss

F64 = torch.float64


def _image(seed, size=8):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, size, size, generator=g, dtype=F64) * 1.6 - 0.8).requires_grad_(True)  # inside (-1, 1)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_the_float64_pixel_loss_is_float64_and_passes_gradcheck(kind):
    pred, target = _image(0), _image(1).detach()
    assert pixel_loss(pred, target, kind).dtype == F64
    assert gradcheck(lambda p: pixel_loss(p, target, kind), (pred,))


def test_the_float64_ms_ssim_substitute_passes_gradcheck():
    loss = PerceptualLoss("ms-ssim", scales=2)
    pred, target = _image(2, size=16), _image(3, size=16).detach()
    assert loss(pred, target).dtype == F64
    assert gradcheck(lambda p: loss(p, target), (pred,), fast_mode=True)


def test_float64_psnr_and_ssim_come_back_in_float64_at_their_closed_forms():
    target = _image(4).detach()
    delta = 0.1 / 3  # every pixel off by delta in [-1, 1]: delta / 2 on [0, 1], PSNR = -20 log10(delta / 2)
    value = psnr(target + delta, target)
    assert value.dtype == F64
    assert float(value) == pytest.approx(-20 * math.log10(delta / 2), rel=0, abs=1e-10)
    same = ssim(target, target)
    assert same.dtype == F64 and float(same) == pytest.approx(1.0, rel=0, abs=1e-12)
    assert psnr(target.float(), target.float() + 0.1).dtype == torch.float32  # float32 images: float32 as before
