"""Antialiased bilinear resizing in at least fp32, for images that may arrive in bf16 under autocast.

EG3D's ``filtered_resizing`` and StyleSDF's output resize are antialiased bilinear interpolations. The
CPU has no antialiased kernel for bf16, and EG3D resizes in fp32 anyway, so a bf16 or fp16 image is resized
in fp32 and returned in its own dtype: the same numbers with or without autocast, on every device. A float64
image (a float64 model) is resized in float64.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from zoo3d.devices import at_least_float32


def resize(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, C, h, w) for ``size`` = (h, w), or a square side; unchanged if already that size."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(images.shape[-2:]) == hw:
        return images
    out = F.interpolate(at_least_float32(images), size=hw, mode="bilinear", align_corners=False, antialias=True)
    return out.to(images.dtype)
