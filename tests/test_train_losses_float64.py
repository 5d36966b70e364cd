"""The shared GAN losses keep a float64 model's precision: their gradients pass torch.autograd.gradcheck in
float64, and half-precision logits under autocast are still widened to float32."""

import math

import pytest
import torch
from torch.autograd import gradcheck

from zoo3d.train import losses


def _leaf(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)


@pytest.mark.parametrize("name, loss, inputs", [
    ("generator", losses.generator_loss, lambda: (_leaf(6, 1),)),
    ("discriminator", losses.discriminator_loss, lambda: (_leaf(6, 1), _leaf(6, 1, seed=1))),
    ("top-k", lambda x: losses.topk_generator_loss(x, 0.5, group=3), lambda: (_leaf(6, 1),)),
    ("pose mse", losses.pose_loss, lambda: (_leaf(4, 2), _leaf(4, 2, seed=1))),
    ("pose smooth_l1", lambda a, b: losses.pose_loss(a, b, "smooth_l1"), lambda: (_leaf(4, 2), _leaf(4, 2, seed=1))),
])
def test_float64_logits_give_a_float64_loss_whose_gradient_passes_gradcheck(name, loss, inputs):
    args = inputs()
    assert loss(*args).dtype == torch.float64, name
    assert gradcheck(loss, args)  # a loss rounded to float32 fails: its finite differences are rounding noise


def test_r1_of_a_float64_discriminator_passes_gradcheck_and_keeps_its_closed_form():
    x = _leaf(3, 4, seed=2)

    def r1(w):
        return losses.r1_penalty(torch.sin(x @ w), x, gamma=10.0)

    w = _leaf(4, seed=3)
    # d sin(x.w)/dx = cos(x.w) w: R1 = 0.5 * gamma * mean_i cos(x_i.w)^2 |w|^2
    expected = 0.5 * 10.0 * (torch.cos(x @ w) ** 2).mean() * w.pow(2).sum()
    assert r1(w).dtype == torch.float64
    torch.testing.assert_close(r1(w), expected, rtol=1e-14, atol=0)
    assert gradcheck(r1, (w,))


def test_bf16_logits_are_still_widened_to_float32():
    logits = torch.zeros(3, 1, dtype=torch.bfloat16)
    loss = losses.generator_loss(logits)
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(math.log(2), rel=1e-7)
    pose = losses.pose_loss(torch.zeros(2, 2, dtype=torch.bfloat16), torch.full((2, 2), 0.1, dtype=torch.float64))
    assert pose.dtype == torch.float32 and pose.item() == pytest.approx(0.01, rel=1e-6)
