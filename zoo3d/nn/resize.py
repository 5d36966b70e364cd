"""Antialiased bilinear resizing in fp32, for images that may arrive in bf16 under autocast.

EG3D's ``filtered_resizing`` and StyleSDF's output resize are antialiased bilinear interpolations. The
CPU has no antialiased kernel for bf16, and EG3D resizes in fp32 anyway, so the resize runs in fp32 and
returns the input's dtype: the same numbers with or without autocast, on every device.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def resize(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, C, h, w) for ``size`` = (h, w), or a square side; unchanged if already that size."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(images.shape[-2:]) == hw:
        return images
    out = F.interpolate(images.float(), size=hw, mode="bilinear", align_corners=False, antialias=True)
    return out.to(images.dtype)
