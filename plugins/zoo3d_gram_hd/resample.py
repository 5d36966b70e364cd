"""Fixed bicubic down-sampling (GRAM-HD's ``Down_s`` for the cross-resolution consistency loss).

The kernel is Keys' cubic convolution kernel (a = -0.5) stretched by the factor s, so an
s-times down-sampling averages 4s input pixels per output pixel, centred on the output pixel
centre ``(j + 0.5) s - 0.5`` in input pixel coordinates. Borders are replicate-padded by 1.5 s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bicubic_downsample", "bicubic_kernel", "keys_cubic"]


def keys_cubic(d: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel W(d); zero for |d| >= 2."""
    d = d.abs()
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def bicubic_kernel(factor: int, a: float = -0.5, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """The (4·factor, 4·factor) separable down-sampling kernel, normalised to sum 1."""
    size = 4 * factor
    offsets = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) / factor
    taps = keys_cubic(offsets, a)
    taps = taps / taps.sum()
    return (taps[:, None] * taps[None, :]).to(device=device, dtype=dtype)


def bicubic_downsample(x: Tensor, factor: int, a: float = -0.5) -> Tensor:
    """Down-sample (B, C, H, W) by an integer ``factor`` (1 or even) -> (B, C, H/factor, W/factor).

    Output pixel j is the kernel-weighted mean of input pixels around ``(j + 0.5) * factor - 0.5``.
    """
    if factor == 1:
        return x
    if factor < 1 or factor % 2:
        raise ValueError(f"bicubic_downsample needs factor 1 or an even integer (pad 1.5*factor), got {factor}")
    b, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} is not divisible by the factor {factor}")
    kernel = bicubic_kernel(factor, a, dtype=x.dtype, device=x.device)[None, None]
    pad = 3 * factor // 2
    y = F.pad(x.reshape(b * c, 1, h, w), [pad, pad, pad, pad], mode="replicate")
    y = F.conv2d(y, kernel, stride=factor)
    return y.reshape(b, c, h // factor, w // factor)
