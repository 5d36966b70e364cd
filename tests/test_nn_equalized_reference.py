"""Equalised-learning-rate layers (zoo3d.nn.equalized) against StyleGAN2's layers written out.

References: EG3D's training/networks_stylegan2.py ``FullyConnectedLayer`` (weight ~ N(0, 1/lr²), weight gain
lr / sqrt(fan_in), bias gain lr, 'lrelu' = leaky ReLU 0.2 times sqrt 2 after the bias) and ``Conv2dLayer``
(gain 1 / sqrt(in · k²)); rosinality's ``EqualConv2d`` (StyleSDF's model.py): zero bias, no padding, stride 1.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo3d.nn.equalized import EqualConv2d, EqualLinear

pytestmark = pytest.mark.usefixtures("single_thread")


def _lrelu(x):
    return torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2.0)


def _randomise(module, seed=0):
    """Every parameter drawn at random (the bias too), so a dropped or mis-scaled term shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return module


@pytest.mark.parametrize("lr_mul,activation,bias", [(1.0, None, True), (0.01, None, True), (0.01, "lrelu", True),
                                                   (0.5, "lrelu", False), (0.1, None, False)])
def test_equal_linear_is_eg3ds_fully_connected_layer(lr_mul, activation, bias):
    layer = _randomise(EqualLinear(6, 5, bias=bias, lr_mul=lr_mul, activation=activation))
    assert (layer.bias is None) == (not bias)
    x = torch.randn(4, 3, 6, generator=torch.Generator().manual_seed(1))
    # x W^T · lr / sqrt(fan_in) + b · lr, then the activation
    want = x @ (layer.weight * (lr_mul / math.sqrt(6))).T + (layer.bias * lr_mul if bias else 0.0)
    torch.testing.assert_close(layer(x), _lrelu(want) if activation else want)


def test_equal_linear_rejects_other_activations_and_names_its_sizes():
    with pytest.raises(ValueError, match="activation"):
        EqualLinear(4, 3, activation="relu")
    assert repr(EqualLinear(7, 3, lr_mul=0.01, activation="lrelu")) == \
        "EqualLinear(7, 3, lr_mul=0.01, activation=lrelu)"  # (in, out) as torch's Linear


@pytest.mark.parametrize("stride,padding,lr_mul", [(1, 0, 1.0), (2, 1, 1.0), (1, 1, 0.25)])
def test_equal_conv2d_is_the_scaled_convolution(stride, padding, lr_mul):
    conv = _randomise(EqualConv2d(3, 4, 3, stride=stride, padding=padding, lr_mul=lr_mul))
    x = torch.randn(2, 3, 7, 6, generator=torch.Generator().manual_seed(2))
    want = F.conv2d(x, conv.weight * (lr_mul / math.sqrt(3 * 9)), conv.bias * lr_mul, stride=stride, padding=padding)
    torch.testing.assert_close(conv(x), want)


def test_equal_conv2d_initialisation_no_bias_and_repr():
    torch.manual_seed(0)
    conv = EqualConv2d(64, 64, 3, lr_mul=0.5)
    assert abs(conv.weight.std().item() - 2.0) < 0.05  # N(0, 1/lr²), 36864 draws
    assert conv.bias.abs().max() == 0
    plain = EqualConv2d(2, 3, 1, bias=False)
    assert plain.bias is None
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(plain(x), F.conv2d(x, plain.weight / math.sqrt(2)))
    assert repr(EqualConv2d(2, 5, 3, stride=2, padding=1)) == "EqualConv2d(2, 5, kernel_size=3, stride=2, padding=1)"
