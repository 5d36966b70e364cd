"""Equalised-learning-rate layers (StyleGAN2): weights stored at unit variance, scaled at run time.

Storing ``w ~ N(0, 1/lr_mul^2)`` and multiplying by ``lr_mul / sqrt(fan_in)`` in the forward pass
gives every layer the same effective learning rate under Adam, whatever its fan-in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def scaled_leaky_relu(x: Tensor, slope: float = LRELU_SLOPE, gain: float = LRELU_GAIN) -> Tensor:
    """StyleGAN's activation: leaky ReLU times ``sqrt(2)`` so unit-variance input keeps roughly unit variance."""
    return F.leaky_relu(x, slope) * gain


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate.

    Args:
        in_dim, out_dim: feature sizes; input (..., in_dim) -> output (..., out_dim).
        bias: add a bias (initialised to ``bias_init``, scaled by ``lr_mul``).
        lr_mul: learning-rate multiplier (0.01 in StyleGAN2's mapping network).
        activation: ``None`` (linear) or ``"lrelu"`` (leaky ReLU 0.2 times sqrt(2), after the bias).
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        if activation not in (None, "lrelu"):
            raise ValueError(f"activation must be None or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        # Stored divided by lr_mul so the effective bias starts at bias_init whatever the multiplier.
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        out = F.linear(x, self.weight * self.scale, bias)
        return scaled_leaky_relu(out) if self.activation == "lrelu" else out

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """2D convolution with equalised learning rate; (B, in, H, W) -> (B, out, H', W')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = lr_mul / math.sqrt(in_channels * kernel_size ** 2)
        self.lr_mul = lr_mul
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.conv2d(x, self.weight * self.scale, bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}"


class BiasLeakyReLU(nn.Module):
    """Per-channel bias then StyleGAN's scaled leaky ReLU; x (B, C, ...) -> same shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return scaled_leaky_relu(x + self.bias.view(shape))
