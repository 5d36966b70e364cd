"""EG3D's dual discrimination: one StyleGAN2 D sees the final image and the raw neural render together.

D's input is concat(image, raw) (B, 6, H, W): the 3-channel raw neural render (for fakes) or the real
image downsampled to the neural rendering resolution (for reals), brought back to H x W by
antialiased bilinear resampling. This ties the super-resolved image to the 3D-consistent render.
D is conditioned on the camera label c (B, 25) through a mapping network and a projection output.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo3d.cameras import Camera
from zoo3d.core.discriminator import Discriminator
from zoo3d.core.outputs import DiscriminatorOutput
from zoo3d.nn.discriminators import StyleGAN2Discriminator
from zoo3d.nn.fir import make_kernel, upfirdn2d
from zoo3d.nn.resize import resize

from zoo3d_triplane.config import CAMERA_DIM


def dual_input(image: Tensor, raw: Tensor) -> Tensor:
    """(B, 3, H, W) image and (B, 3, h, w) raw render -> (B, 6, H, W) = concat(image, raw upsampled to H)."""
    return torch.cat([image, resize(raw, image.shape[-1])], dim=1)


def blur_images(images: Tensor, sigma: float) -> Tensor:
    """EG3D's D-input blur: separable taps 2^(-(x / sigma)^2) for |x| <= floor(3 sigma), normalised, zero padding."""
    size = math.floor(sigma * 3)
    if size <= 0:
        return images
    x = torch.arange(-size, size + 1, dtype=torch.float32)
    kernel = make_kernel(torch.exp2(-(x / sigma).square()))
    return upfirdn2d(images, kernel.to(images), pad=(size, size))


class DualDiscriminator(Discriminator):
    """Camera-conditioned StyleGAN2 discriminator over concat(image, upsampled raw render).

    Args:
        resolution: side of the final images. raw_resolution: the neural rendering resolution
            (reals are downsampled to it to make their raw half; the recipe updates it while it fades).
        channel_base, channel_max, mapping_layers, mbstd_group_size: see StyleGAN2Discriminator.
        c_noise: camera-label corruption std in units of the batch std of each dimension (training only).
        conv_clamp: the conv layers' output clamp (EG3D: 256; None = none).

    forward(images (B, 3, H, W) in [-1, 1], cameras, raw=None, c=None, blur_sigma=0):
    ``raw`` (B, 3, h, w) defaults to the images downsampled to ``raw_resolution`` (real images);
    ``c`` defaults to ``cameras.to_eg3d()``; ``blur_sigma`` blurs the image half, as EG3D's D does. (EG3D also
    blurs the reals' raw half, before the D and R1 see it: the recipe does that, ``model.real_dual_sample``.)
    """

    def __init__(self, resolution: int, raw_resolution: int, channel_base: int = 32768, channel_max: int = 512,
                 mapping_layers: int = 8, mbstd_group_size: int = 4, c_noise: float = 0.0,
                 conv_clamp: float | None = None):
        super().__init__()
        self.net = StyleGAN2Discriminator(resolution, in_channels=6, channel_base=channel_base,
                                          max_channels=channel_max, c_dim=CAMERA_DIM, mapping_layers=mapping_layers,
                                          mbstd_group_size=mbstd_group_size, clamp=conv_clamp)
        self.resolution, self.raw_resolution, self.c_noise = resolution, raw_resolution, c_noise

    def forward(self, images: Tensor, cameras: Camera | None = None, raw: Tensor | None = None,
                c: Tensor | None = None, blur_sigma: float = 0.0) -> DiscriminatorOutput:
        if raw is None:
            raw = resize(images, self.raw_resolution)
        if c is None:
            if cameras is None:
                raise ValueError("the dual discriminator is camera-conditioned: pass cameras or c")
            c = cameras.to_eg3d()
        c = c.to(images)
        if self.training and self.c_noise > 0:
            c = c + torch.randn_like(c) * c.std(0) * self.c_noise
        x = dual_input(blur_images(images, blur_sigma), raw)
        return self.net(x, c=c)
