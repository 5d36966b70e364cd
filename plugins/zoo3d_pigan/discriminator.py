"""pi-GAN's progressive CoordConv discriminator, from the CoordConv blocks GRAM's discriminator is made of."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from zoo3d.cameras import Camera
from zoo3d.core.discriminator import Discriminator
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.discriminators import (FromRGB, MinibatchStd, ResidualCoordConvBlock, coordconv_channels,
                                     log2_resolution, split_logit_pose)

__all__ = ["ProgressiveCoordConvDiscriminator"]


class ProgressiveCoordConvDiscriminator(Discriminator):
    """pi-GAN's progressive CoordConv encoder: one fromRGB adapter per resolution and a fade-in.

    Blocks go from ``max_resolution`` down to 2x2 with the same widths as
    :class:`CoordConvDiscriminator`; an image of side r enters at the block for r. While a new
    resolution fades in (``alpha`` < 1), the output of the first block is blended with the
    fromRGB of the nearest-neighbour half-size image: ``alpha * x + (1 - alpha) * fromRGB(down(img))``,
    as pi-GAN does.

    forward(images (B, C, r, r), cameras=None, alpha=1.0) for any power of two 4 <= r <= max_resolution.
    ``mbstd_group`` > 0 appends a minibatch-stddev map before the final conv, as in
    :class:`CoordConvDiscriminator` (0: none, as upstream).
    """

    def __init__(self, max_resolution: int, max_channels: int = 400, pose_dim: int = 2, channel_scale: float = 1.0,
                 in_channels: int = 3, mbstd_group: int = 0):
        super().__init__()
        log2 = log2_resolution(max_resolution)
        self.resolutions = [2 ** r for r in range(log2, 0, -1)]
        ch = [coordconv_channels(r, max_channels, channel_scale) for r in self.resolutions]
        self.blocks = nn.ModuleList([ResidualCoordConvBlock(ch[i], ch[i + 1]) for i in range(len(ch) - 1)])
        self.from_rgb = nn.ModuleList([FromRGB(in_channels, c) for c in ch[:-1]])
        self.mbstd = MinibatchStd(mbstd_group) if mbstd_group > 0 else None
        self.final = nn.Conv2d(ch[-1] + (1 if mbstd_group > 0 else 0), 1 + pose_dim, 2)
        self.max_resolution, self.pose_dim, self.mbstd_group = max_resolution, pose_dim, mbstd_group

    def forward(self, images: Tensor, cameras: Camera | None = None, alpha: float = 1.0) -> DiscriminatorOutput:
        r = images.shape[-1]
        if r not in self.resolutions[:-1] or images.shape[-2] != r:
            raise ValueError(f"image side must be a power of two in [4, {self.max_resolution}], "
                             f"got {tuple(images.shape[-2:])}")
        start = self.resolutions.index(r)
        x = self.from_rgb[start](images)
        for i, block in enumerate(self.blocks[start:]):
            if i == 1 and alpha < 1.0:
                skip = self.from_rgb[start + 1](F.interpolate(images, scale_factor=0.5, mode="nearest"))
                x = alpha * x + (1.0 - alpha) * skip
            x = block(x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        return split_logit_pose(self.final(x), self.pose_dim)
