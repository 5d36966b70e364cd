"""FIR resampling (StyleGAN2's ``upfirdn2d``) in plain batched torch, so it runs on any device.

The default kernel ``[1, 3, 3, 1]`` is the binomial low-pass StyleGAN2 uses before every
down-sampling and after every up-sampling, which keeps aliasing out of the feature maps.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_KERNEL = (1, 3, 3, 1)


def make_kernel(taps: Sequence[float] | Tensor) -> Tensor:
    """A separable 2D kernel from 1D taps (outer product), normalised to sum 1; (k, k)."""
    k = torch.as_tensor(taps, dtype=torch.float32)
    if k.dim() == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Zero-insert up-sample by ``up``, pad (negative crops), filter with ``kernel``, keep every ``down``-th pixel.

    x: (B, C, H, W); kernel (kh, kw) applied per channel (true convolution, i.e. flipped).
    Output side: (H * up + pad[0] + pad[1] - kh) // down + 1.

    The filter is one depthwise convolution (``groups=C``, as EG3D's reference op), not a one-channel convolution
    of B·C maps: the same sums, and on a 2-core CPU its backward pass was 14 to 27 times faster at the tri-plane
    model's tiny sizes (docs/rendering.md, "Performance").
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    hh, ww = x.shape[-2:]
    x = x[:, :, max(-p0, 0): hh - max(-p1, 0), max(-p0, 0): ww - max(-p1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(x)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=c)


class Blur(nn.Module):
    """FIR low-pass with explicit padding; ``upsample_factor`` scales the kernel so zero-inserted maps keep their mean."""

    def __init__(self, kernel: Sequence[float] = DEFAULT_KERNEL, pad: tuple[int, int] = (1, 1),
                 upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel) * upsample_factor ** 2
        self.register_buffer("kernel", k, persistent=False)
        self.pad = tuple(pad)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×factor FIR up-sampling; (B, C, H, W) -> (B, C, H·f, W·f)."""

    def __init__(self, kernel: Sequence[float] = DEFAULT_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2, persistent=False)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)
